// The read side's worker pool: chunk-worker.js on SLOTS_PER_THREAD slots a thread, each slot a
// chunk at the format's limit. A module of its own, importing little, so that a binary can start
// the pool before it loads the rest of itself (img-buffer's main): the threads load node and the
// codecs while the main thread loads its modules, instead of after, when the drain needs them.
import { SEEK_CUR, isRegularFile, lseek, preadFull } from '@criu-pipes/sys'
import { WorkerPool, defaultThreads } from '@criu-pipes/workers'
import { MAX_MARKER_LEN } from '../constants.js'
import { decodeMarker } from '../marker.js'
import { LZ4_SIZE_PREFIX, MAX_RAW_CHUNK } from './limits.js'
import type { ChunkJob, CodecInit } from './jobs.js'

// Decoded chunks in flight per worker (see ext-writer.ts).
const SLOTS_PER_THREAD = 4
const CHUNK_WORKER = new URL('./chunk-worker.js', import.meta.url).href

/**
 * Starts the decoding threads. Without `init` (known only from the stream's header) the threads
 * load and wait: DecodingReader hands it over (ExtReadOptions.pool), or lets them go for a
 * stream that needs none.
 */
export function startDecodePool(threads = defaultThreads(), init?: CodecInit): WorkerPool<ChunkJob> {
  return new WorkerPool<ChunkJob>({
    handler: CHUNK_WORKER, threads, slots: SLOTS_PER_THREAD * threads,
    inputBytes: LZ4_SIZE_PREFIX + MAX_RAW_CHUNK, outputBytes: MAX_RAW_CHUNK,
    ...(init ? { init } : {}),
  })
}

/**
 * Whether the shard's next marker is a stream header, looked at without moving the fd's offset:
 * so only in a regular file (a pipe cannot be looked into without taking its bytes). False for
 * anything else, a plain stream or a damaged one included: the reader says what is wrong.
 */
export function opensExtended(fd: number): boolean {
  try {
    if (!isRegularFile(fd)) return false
    const at = lseek(fd, 0, SEEK_CUR)
    const len = Buffer.alloc(4)
    if (preadFull(fd, len, at) < len.length) return false
    const n = len.readUInt32LE(0)
    if (n === 0 || n >= MAX_MARKER_LEN) return false
    const body = Buffer.alloc(n)
    return preadFull(fd, body, at + len.length) === n && decodeMarker(body).body.kind === 'stream_header'
  } catch {
    return false
  }
}
