// Phase 1 of serving: every shard read to image_eof into the store; external files named with -e
// go straight to their fds (a `tar x` must already be reading them, or the drain waits for it).
// Payloads on pipe (or socket) shards are copied into memory; payloads in shard files stay there
// and are only located (see file-shard.ts).
import {
  DecodingReader, SHARD_PIPE_SIZE, defaultThreads, isPagesFile, type DecodeWindow, type ExtReadOptions, type ExtStats, type LazyFiles, type ShardStat,
} from '@criu-pipes/framing'
import { closeQuietly, writeAll, isFifo, isRegularFile, pipeSize, trySetPipeSize } from '@criu-pipes/sys'
import { StatusLine, type ExtFile } from '@criu-pipes/streamer'
import { StoredFile } from './store.js'
import { FileShard } from './file-shard.js'

/** `window`: where the stored chunks of an extended stream's pages files are decoded while serving (null: none). */
export interface Drained { files: Map<string, StoredFile>; stats: ShardStat[]; extStats: ExtStats | null; window: DecodeWindow | null }

export function drain(shardFds: readonly number[], extFiles: readonly ExtFile[], extOpts: ExtReadOptions = { key: null, threads: defaultThreads() }, status = new StatusLine('img-buffer', false)): Drained {
  const ext = new Map(extFiles.map(e => [e.name, e.fd]))
  const fileShards = new Map(shardFds.filter(isRegularFile).map(fd => [fd, new FileShard(fd)]))
  // A shard pipe from `cat`, ssh or lz4 has the default 64 KiB: a read(2) and a wake-up per 64 KiB.
  // Give it the capacity img-split gives its own shard pipes (only ever grow one).
  for (const fd of shardFds) if (isFifo(fd) && pipeSize(fd) < SHARD_PIPE_SIZE) trySetPipeSize(fd, SHARD_PIPE_SIZE)
  // An extended stream's chunks are decoded on worker threads straight into the store's memory
  // (placed; the reader reads ahead, so a file may get its first chunk before its 'open'), except
  // the pages files': nearly all of an image, they are kept as they arrived and decoded only
  // while CRIU reads them (decode-window.ts), so the image is never held decoded. The other files
  // are small, and some are read or patched here (files.img, pagemap and mm for stream-limits).
  const files = new Map<string, StoredFile>()
  const fileFor = (name: string): StoredFile => {
    let f = files.get(name)
    if (!f) files.set(name, f = new StoredFile())
    return f
  }
  const lazy: LazyFiles = {
    wants: name => isPagesFile(name) && !ext.has(name),
    keep: (name, chunk, take) => fileFor(name).keep(chunk, take, fd => fileShards.get(fd)),
  }
  const reader = new DecodingReader(shardFds, extOpts, (name, length) => (ext.has(name) ? null : fileFor(name).reserve(length)), lazy)
  let window: DecodeWindow | null = null
  try {
    for (let ev = reader.next(); ev.type !== 'end'; ev = reader.next()) {
      status.update(() => reader.progress())
      const extFd = ext.get(ev.name)
      if (extFd !== undefined) {
        if (ev.type === 'data') reader.payloadTo(extFd)
        if (ev.type === 'bytes') writeAll(extFd, ev.data)
        if (ev.type === 'close') { closeQuietly(extFd); ext.delete(ev.name) }
        continue
      }
      if (ev.type === 'open') fileFor(ev.name)
      else if (ev.type === 'bytes') { if (!ev.placed) files.get(ev.name)!.append(ev.data) }
      else if (ev.type === 'data') {
        const f = files.get(ev.name)!
        reader.payloadBy((fd, size) => {
          const shard = fileShards.get(fd)
          return shard ? f.locate(shard, size) : f.fill(fd, size)
        })
      } else files.get(ev.name)!.seal()
    }
    window = reader.window()
  } catch (e) {
    // Workers may still be writing into placed chunks: they end before the memory goes.
    reader.close()
    for (const f of files.values()) f.free()
    throw e
  } finally {
    for (const fd of ext.values()) closeQuietly(fd)
    reader.close()
    status.clear()
  }
  return { files, stats: reader.stats(), extStats: reader.extStats(), window }
}

