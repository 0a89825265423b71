// Extract: the image files of a shard stream into a directory, for a plain `criu restore -D`.
// Files are written under DIR/.img-join.partial and renamed into DIR only once the whole stream
// has been read and checked, so a truncated or damaged stream leaves no image to restore from.
import { closeSync, constants, mkdirSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { DecodingReader, FramingError, defaultThreads, type ExtReadOptions } from '@criu-pipes/framing'
import { writeAll } from '@criu-pipes/sys'
import { Progress, StatusLine, checkDataFd, type ExtFile } from '@criu-pipes/streamer'
import { ExtOutputs } from './ext-files.js'

export interface ExtractOptions {
  shardFds: number[]; imagesDir: string; extFiles: ExtFile[]; progressFd: number
  /** Called once the stream is read, before any file is renamed into place: throws to refuse it (a shard filter failed). */
  confirmShards?: (() => void) | undefined
  /** How to read an extended stream (key, threads, base). */
  ext?: ExtReadOptions
  status?: boolean
}

const PARTIAL_DIR = '.img-join.partial'
// O_NOFOLLOW and O_EXCL: a name is only ever created fresh, never through a planted symlink.
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

export function extract(opts: ExtractOptions): string[] {
  for (const fd of opts.shardFds) checkDataFd(fd, 'shard')
  for (const e of opts.extFiles) checkDataFd(e.fd, `external file ${e.name}`)
  mkdirSync(opts.imagesDir, { recursive: true })
  const existing = readdirSync(opts.imagesDir).filter(n => n.endsWith('.img'))
  if (existing.length) {
    throw new FramingError(`${opts.imagesDir} already holds an image (${existing.slice(0, 2).join(', ')}...): extract into an empty directory`)
  }
  const partial = join(opts.imagesDir, PARTIAL_DIR)
  rmSync(partial, { recursive: true, force: true })
  mkdirSync(partial, { mode: 0o700 })
  const progress = new Progress(opts.progressFd)
  const ext = new ExtOutputs(opts.extFiles)
  const status = new StatusLine('img-join', opts.status ?? false)
  const reader = new DecodingReader(opts.shardFds, opts.ext ?? { key: null, threads: defaultThreads() })
  const open = new Map<string, number>()
  const written: string[] = []
  try {
    for (let ev = reader.next(); ev.type !== 'end'; ev = reader.next()) {
      status.update(() => reader.progress())
      const extFd = ext.fdFor(ev.name)
      if (ev.type === 'open') {
        if (extFd === undefined) open.set(ev.name, openSync(join(partial, ev.name), CREATE_FLAGS, 0o600))
      } else if (ev.type === 'data') {
        reader.payloadTo(extFd ?? open.get(ev.name)!)
      } else if (ev.type === 'bytes') {
        writeAll(extFd ?? open.get(ev.name)!, ev.data)
      } else if (extFd !== undefined) {
        ext.finish(ev.name)
      } else {
        closeSync(open.get(ev.name)!)
        open.delete(ev.name)
        written.push(ev.name)
      }
    }
    opts.confirmShards?.()
    for (const name of written) renameSync(join(partial, name), join(opts.imagesDir, name))
  } finally {
    for (const fd of open.values()) closeSync(fd)
    rmSync(partial, { recursive: true, force: true })
    ext.finishAll()
    reader.close()
    status.clear()
  }
  progress.stats(reader.stats(), reader.extStats())
  return written
}
