// Extract: the image files of a shard stream into a directory, for a plain `criu restore -D`.
// Files are written under DIR/.img-join.partial and moved into DIR only once the whole stream
// has been read and checked, so a truncated or damaged stream leaves no image to restore from.
// DIR is checked (openPrivateDir) and held by fd, the partial directory made by us under that
// fd, and every file opened relative to it: no path we build goes through a symlink.
import {
  O_CREAT, O_EXCL, O_WRONLY, RENAME_NOREPLACE, S_IFDIR, closeQuietly, fsync, listAt, mkdirAt, openAt, openDirAt,
  openPrivateDir, renameAt, statAt, unlinkAt, writeAll,
} from '@criu-pipes/sys'
import { DecodingReader, FramingError, defaultThreads, type ExtReadOptions } from '@criu-pipes/framing'
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
// O_EXCL (and O_NOFOLLOW, which openAt adds): a name is only ever created fresh.
const CREATE_FLAGS = O_WRONLY | O_CREAT | O_EXCL
// CRIU reads inventory.img first: moved last, a directory that has it has everything.
const LAST_MOVED = 'inventory.img'

export function extract(opts: ExtractOptions): string[] {
  for (const fd of opts.shardFds) checkDataFd(fd, 'shard')
  for (const e of opts.extFiles) checkDataFd(e.fd, `external file ${e.name}`)
  const dir = openPrivateDir(opts.imagesDir, { create: true })
  const where = (name: string): string => `${opts.imagesDir}/${name}`
  let partial = -1
  const open = new Map<string, number>()
  const ext = new ExtOutputs(opts.extFiles)
  const status = new StatusLine('img-join', opts.status ?? false)
  let reader: DecodingReader | undefined
  try {
    const existing = listAt(dir).map(e => e.name).filter(n => n.endsWith('.img'))
    if (existing.length) {
      throw new FramingError(`${opts.imagesDir} already holds an image (${existing.slice(0, 2).join(', ')}...): extract into an empty directory`)
    }
    removePartial(dir, where(PARTIAL_DIR))
    mkdirAt(dir, PARTIAL_DIR, 0o700, where(PARTIAL_DIR))
    partial = openDirAt(dir, PARTIAL_DIR, where(PARTIAL_DIR))
    const progress = new Progress(opts.progressFd)
    reader = new DecodingReader(opts.shardFds, opts.ext ?? { key: null, threads: defaultThreads() })
    const written: string[] = []
    for (let ev = reader.next(); ev.type !== 'end'; ev = reader.next()) {
      status.update(() => reader!.progress())
      const extFd = ext.fdFor(ev.name)
      if (ev.type === 'open') {
        if (extFd !== undefined) continue
        // Whatever is in DIR stays as it is: a stream may not replace a .bashrc or an authorized_keys.
        if (statAt(dir, ev.name) !== null) throw new FramingError(`${where(ev.name)} already exists: refusing to replace it`)
        open.set(ev.name, openAt(partial, ev.name, CREATE_FLAGS, 0o600, where(ev.name)))
      } else if (ev.type === 'data') {
        reader.payloadTo(extFd ?? open.get(ev.name)!)
      } else if (ev.type === 'bytes') {
        writeAll(extFd ?? open.get(ev.name)!, ev.data)
      } else if (extFd !== undefined) {
        ext.finish(ev.name)
      } else {
        const fd = open.get(ev.name)!
        open.delete(ev.name)
        try { fsync(fd, where(ev.name)) } finally { closeQuietly(fd) }
        written.push(ev.name)
      }
    }
    opts.confirmShards?.()
    moveAll(partial, dir, written.filter(n => n !== LAST_MOVED).concat(written.filter(n => n === LAST_MOVED)), where)
    progress.stats(reader.stats(), reader.extStats())
    return written
  } finally {
    for (const fd of open.values()) closeQuietly(fd)
    if (partial >= 0) {
      closeQuietly(partial)
      try { removePartial(dir, where(PARTIAL_DIR)) } catch { /* the first error is the one to report */ }
    }
    closeQuietly(dir)
    ext.finishAll()
    reader?.close()
    status.clear()
  }
}

/**
 * Moves every file into DIR, all or nothing: renameat2(RENAME_NOREPLACE) never replaces a name
 * that appeared meanwhile, and a failure removes what was already moved, so nothing restorable
 * is left after an error. DIR is fsynced at the end: after a power cut a directory that looks
 * complete is complete (each file was fsynced before).
 */
function moveAll(from: number, to: number, names: readonly string[], where: (name: string) => string): void {
  const moved: string[] = []
  try {
    for (const name of names) {
      renameAt(from, name, to, name, RENAME_NOREPLACE, where(name))
      moved.push(name)
    }
    fsync(to, 'the images directory')
  } catch (e) {
    for (const name of moved) {
      try { unlinkAt(to, name) } catch { /* reported below with the first error */ }
    }
    try { fsync(to) } catch { /* as above */ }
    throw e
  }
}

/** Removes a partial directory left by an earlier run (flat: files only), or a name in its place. */
function removePartial(dir: number, path: string): void {
  const st = statAt(dir, PARTIAL_DIR)
  if (st === null) return
  if (st.type !== S_IFDIR) { unlinkAt(dir, PARTIAL_DIR, false, path); return }
  const fd = openDirAt(dir, PARTIAL_DIR, path)
  try {
    for (const e of listAt(fd)) unlinkAt(fd, e.name, e.type === S_IFDIR, `${path}/${e.name}`)
  } finally {
    closeQuietly(fd)
  }
  unlinkAt(dir, PARTIAL_DIR, true, path)
}
