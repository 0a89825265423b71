// The read side's worker pool: chunk-worker.js on SLOTS_PER_THREAD slots a thread, each slot a
// chunk at the format's limit. A module of its own, importing little, so that a binary can start
// the pool before it loads the rest of itself (img-buffer's main): the threads load node and the
// codecs while the main thread loads its modules and parses its options, instead of after.
import { WorkerPool, defaultThreads } from '@criu-pipes/workers'
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
