// Merge: N shards in, one ordered single-shard stream out (for a file, a pipe to ssh, or
// criu-image-streamer). Markers are renumbered by a fresh writer; payloads move by splice.
import { ImageReader, ShardWriter } from '@criu-pipes/framing'
import { Progress, checkDataFd, type ExtFile } from '@criu-pipes/streamer'
import { ExtOutputs } from './ext-files.js'

export interface MergeOptions {
  shardFds: number[]; outFd: number; extFiles: ExtFile[]; progressFd: number
  /** Called once every shard is read, before image_eof goes out: throws to leave the output unfinished (a shard filter failed). */
  confirmShards?: (() => void) | undefined
}

export function merge(opts: MergeOptions): void {
  for (const fd of opts.shardFds) checkDataFd(fd, 'shard')
  for (const e of opts.extFiles) checkDataFd(e.fd, `external file ${e.name}`)
  checkDataFd(opts.outFd, 'output')
  const progress = new Progress(opts.progressFd)
  const ext = new ExtOutputs(opts.extFiles)
  const reader = new ImageReader(opts.shardFds)
  const writer = new ShardWriter([opts.outFd])
  try {
    for (let ev = reader.next(); ev.type !== 'end'; ev = reader.next()) {
      const extFd = ext.fdFor(ev.name)
      if (ev.type === 'open') {
        if (extFd === undefined) writer.open(ev.name)
      } else if (ev.type === 'data') {
        if (extFd !== undefined) reader.payloadTo(extFd)
        else reader.payloadBy((fd, size) => { writer.spliceFrom(ev.name, fd, size); return size })
      } else if (extFd !== undefined) {
        ext.finish(ev.name)
      } else {
        writer.endFile(ev.name)
      }
    }
    opts.confirmShards?.()
    writer.endImage()
  } finally {
    ext.finishAll()
  }
  progress.stats(reader.stats())
}
