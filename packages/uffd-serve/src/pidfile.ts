// --pidfile as CRIU writes it (log.c, write_pidfile()): a new file, O_EXCL, mode 0600. It is
// created before anything is started, so a path we must refuse (a symlink planted there, or a
// file another daemon still owns) stops us before a daemon runs, and the pid goes in once known.
import { closeSync, constants, openSync, unlinkSync, writeSync } from 'node:fs'

const PIDFILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW
const PIDFILE_MODE = 0o600

export class Pidfile {
  private fd: number

  private constructor(readonly path: string, fd: number) {
    this.fd = fd
  }

  /** Creates the file; refuses anything already at `path` (a symlink included: never followed). */
  static create(path: string): Pidfile {
    try {
      return new Pidfile(path, openSync(path, PIDFILE_FLAGS, PIDFILE_MODE))
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'EEXIST' || code === 'ELOOP') throw new Error(`pid file ${path} already exists (a stale one, or a symlink): refused`)
      throw new Error(`cannot create pid file ${path}: ${code ?? (e as Error).message}`)
    }
  }

  write(pid: number): void {
    writeSync(this.fd, `${pid}`)
    closeSync(this.fd)
    this.fd = -1
  }

  /** Nothing was started: the empty file we created goes (it would make the next start fail). */
  abandon(): void {
    if (this.fd < 0) return
    closeSync(this.fd)
    this.fd = -1
    try { unlinkSync(this.path) } catch { /* already gone */ }
  }
}
