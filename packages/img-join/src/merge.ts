// Merge: N shards in, one ordered single-shard stream out (for a file, a pipe to ssh, or
// criu-image-streamer). Markers are renumbered by a fresh writer; payloads move by splice.
import { DecodingReader, ShardWriter, ExtWriter, defaultThreads, type ExtReadOptions, type ExtWriteOptions } from '@criu-pipes/framing'
import { writeAll } from '@criu-pipes/sys'
import { Progress, StatusLine, checkDataFd, type ExtFile } from '@criu-pipes/streamer'
import { ExtOutputs } from './ext-files.js'

export interface MergeOptions {
  shardFds: number[]; outFd: number; extFiles: ExtFile[]; progressFd: number
  /** Reading an extended stream (decoded: the output is plain unless `out` says otherwise). */
  ext?: ExtReadOptions
  /** Writing the merged stream extended (recompressed, re-encrypted); null/absent: plain. */
  out?: ExtWriteOptions | null
  status?: boolean
  /** Called once every shard is read, before image_eof goes out: throws to leave the output unfinished (a shard filter failed). */
  confirmShards?: (() => void) | undefined
}

export function merge(opts: MergeOptions): void {
  for (const fd of opts.shardFds) checkDataFd(fd, 'shard')
  for (const e of opts.extFiles) checkDataFd(e.fd, `external file ${e.name}`)
  checkDataFd(opts.outFd, 'output')
  const progress = new Progress(opts.progressFd)
  const ext = new ExtOutputs(opts.extFiles)
  const status = new StatusLine('img-join', opts.status ?? false)
  const reader = new DecodingReader(opts.shardFds, opts.ext ?? { key: null, threads: defaultThreads() })
  const plain = new ShardWriter([opts.outFd])
  const extOut = opts.out ? new ExtWriter(plain, opts.out) : null
  const writer = extOut ?? plain
  try {
    for (let ev = reader.next(); ev.type !== 'end'; ev = reader.next()) {
      status.update(() => reader.progress())
      const extFd = ext.fdFor(ev.name)
      if (ev.type === 'open') {
        if (extFd === undefined) writer.open(ev.name)
      } else if (ev.type === 'data') {
        if (extFd !== undefined) reader.payloadTo(extFd)
        else reader.payloadBy((fd, size) => { writer.spliceFrom(ev.name, fd, size); return size })
      } else if (ev.type === 'bytes') {
        if (extFd !== undefined) writeAll(extFd, ev.data)
        else writer.write(ev.name, ev.data)
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
    reader.close()
    status.clear()
    extOut?.close()
  }
  progress.stats(reader.stats(), extOut?.stats() ?? reader.extStats())
}
