// --pidfile as CRIU writes it (log.c, write_pidfile()): a new file, O_EXCL, mode 0600. It is
// created before anything is started, so a path we must refuse (a symlink planted there, or a
// file another daemon still owns) stops us before a daemon runs, and the pid goes in once known.
// Opened with sys's openPrivateFile: relative to the checked work dir, or in a checked directory.
import { closeSync, unlinkSync, writeSync } from 'node:fs'
import { O_CREAT, O_EXCL, O_WRONLY, SysError, UntrustedFileError, openPrivateFile } from '@criu-pipes/sys'
import type { CheckedDir } from '@criu-pipes/sys'

const PIDFILE_FLAGS = O_WRONLY | O_CREAT | O_EXCL
const PIDFILE_MODE = 0o600

export class Pidfile {
  private fd: number

  private constructor(readonly path: string, fd: number) {
    this.fd = fd
  }

  /** Creates the file; refuses anything already at `path` (a symlink included: never followed). */
  static create(path: string, within?: CheckedDir): Pidfile {
    try {
      return new Pidfile(path, openPrivateFile(path, PIDFILE_FLAGS, PIDFILE_MODE, within))
    } catch (e) {
      if (e instanceof UntrustedFileError) throw new Error(`pid file ${e.message}`)
      const code = e instanceof SysError ? e.code : undefined
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
