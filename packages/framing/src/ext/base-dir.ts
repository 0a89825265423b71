// The receiver's base of an incremental stream (--base DIR): a checkpoint directory extracted by
// `img-join -D` (or written by `criu dump -D`). A reference names a file of it and an offset, so
// any page is one pread away, whatever the base's own stream looked like (sharded, compressed,
// encrypted). Trust model: the directory and every file read from it must be ours and not
// writable by other users, and files are opened without following symbolic links; what is read
// is checked against the reference's hash before it is used (chunk-worker.ts).
import { closeSync, lstatSync } from 'node:fs'
import { join } from 'node:path'
import { FramingError } from '../errors.js'
import { checkFileName } from '../names.js'
import { openPrivate } from '../content/index-file.js'

export class BaseDir {
  private readonly fds = new Map<string, number>()

  constructor(readonly dir: string) {
    let st
    try { st = lstatSync(dir) } catch (e) { throw new FramingError(`base ${dir}: ${(e as Error).message}`) }
    const why = !st.isDirectory() ? 'it is not a directory (a symbolic link is refused too)'
      : st.uid !== process.geteuid!() ? `it belongs to uid ${st.uid}, not to us`
      : st.mode & 0o022 ? `mode ${(st.mode & 0o777).toString(8)} lets other users write in it`
      : null
    if (why) throw new FramingError(`base ${dir}: ${why}`)
  }

  /** An fd of the base's file `name`, opened once. */
  fd(name: string): number {
    let fd = this.fds.get(name)
    if (fd === undefined) {
      fd = openPrivate(join(this.dir, checkFileName(name)), `base file`)
      this.fds.set(name, fd)
    }
    return fd
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd)
    this.fds.clear()
  }
}
