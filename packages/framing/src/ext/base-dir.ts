// The receiver's base of an incremental stream (--base DIR): a checkpoint directory extracted by
// `img-join -D` (or written by `criu dump -D`). A reference names a file of it and an offset, so
// any page is one pread away, whatever the base's own stream looked like (sharded, compressed,
// encrypted). Trust model: the directory passes sys's private-directory rule and is held by fd;
// its files are opened through that fd without following symbolic links, and must be regular
// files of ours (or root's) that nobody else may write. What is read is checked against the
// reference's hash before it is used (chunk-worker.ts).
import { O_RDONLY, closeQuietly, openAt, openPrivateDir, statFd } from '@criu-pipes/sys'
import { FramingError } from '../errors.js'
import { checkFileName } from '../names.js'

const S_IFMT = 0o170000, S_IFREG = 0o100000, OTHERS_WRITE = 0o022

export class BaseDir {
  private readonly dirFd: number
  private readonly fds = new Map<string, number>()
  /** A directory fd we were given stays open for its owner. */
  private readonly ownsDir: boolean

  /** `dirFd`: the directory, already checked and opened by the caller (openPrivateDir), who closes it; `dir` names it in messages. */
  constructor(readonly dir: string, dirFd?: number) {
    this.ownsDir = dirFd === undefined
    try {
      this.dirFd = dirFd ?? openPrivateDir(dir)
    } catch (e) {
      throw new FramingError(`base ${dir}: ${(e as Error).message}`)
    }
  }

  /** An fd of the base's file `name`, opened once. */
  fd(name: string): number {
    let fd = this.fds.get(name)
    if (fd !== undefined) return fd
    const what = `base file ${this.dir}/${checkFileName(name)}`
    try {
      fd = openAt(this.dirFd, name, O_RDONLY, 0, what)
    } catch (e) {
      throw new FramingError(`${what}: ${(e as Error).message}`)
    }
    const st = statFd(fd)
    const euid = process.geteuid?.() ?? 0
    const why = (st.mode & S_IFMT) !== S_IFREG ? 'it is not a regular file'
      : st.uid !== 0 && st.uid !== euid ? `it belongs to uid ${st.uid}`
      : st.mode & OTHERS_WRITE ? `mode ${(st.mode & 0o777).toString(8)} lets other users write it`
      : null
    if (why) { closeQuietly(fd); throw new FramingError(`${what}: ${why}`) }
    this.fds.set(name, fd)
    return fd
  }

  close(): void {
    for (const fd of this.fds.values()) closeQuietly(fd)
    this.fds.clear()
    if (this.ownsDir) closeQuietly(this.dirFd)
  }
}
