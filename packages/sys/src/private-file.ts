// A file we write as root at a path the operator gave (a log, a pid file): opened so that nothing
// another user planted there is followed or written. A symlink is refused (O_NOFOLLOW); a FIFO
// is refused without blocking in open (O_NONBLOCK: whoever held it would get our log and could
// stall us by not reading); what was opened must be a regular file of ours with one link (not
// a hard link to someone's file, not a file another user made for us to fill), or a character
// device (/dev/null, /dev/full), which only root can make. O_TRUNC waits until those checks
// passed, so a file we refuse is left as it was. The directory is opened first and checked as
// private-dir.ts does (a sticky one, /tmp, is accepted: nobody else may rename our entry there).
import { ftruncateSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { O_TRUNC, S_IFCHR, S_IFIFO, S_IFLNK, S_IFREG, openAt, statAt, statFd } from './at.js'
import { O_NONBLOCK } from './constants.js'
import { SysError } from './errors.js'
import { setNonBlocking } from './fd.js'
import { c } from './libc.js'
import { openPrivateDir } from './private-dir.js'

const ELOOP = 40
const ENXIO = 6

/** A file refused by these checks: the message names it and says why, in one line. */
export class UntrustedFileError extends Error {
  override name = 'UntrustedFileError'
}

/** A directory already opened and checked (the work dir), for files named inside it. */
export interface CheckedDir {
  fd: number
  path: string
}

/**
 * Opens `path` for writing with `flags` (O_WRONLY|O_CREAT..., O_TRUNC honoured after the checks),
 * `mode` for a new file. Inside `within` (when given) the name is opened relative to its fd;
 * elsewhere the parent directory is opened and checked first. Throws UntrustedFileError for a
 * planted symlink, FIFO or foreign file; SysError for anything else the kernel refused. The fd
 * is blocking, O_CLOEXEC; the caller closes it.
 */
export function openPrivateFile(path: string, flags: number, mode = 0o600, within?: CheckedDir): number {
  const abs = resolve(path)
  const parent = dirname(abs)
  const name = basename(abs)
  const dirFd = within !== undefined && resolve(within.path) === parent ? within.fd : openPrivateDir(parent, { sticky: true })
  try {
    let fd: number
    try {
      fd = openAt(dirFd, name, (flags & ~O_TRUNC) | O_NONBLOCK, mode, abs)
    } catch (e) {
      if (!(e instanceof SysError)) throw e
      // ELOOP: a symlink (O_NOFOLLOW). ENXIO: a FIFO nobody reads (O_NONBLOCK|O_WRONLY).
      const st = e.errno === ELOOP || e.errno === ENXIO ? statAt(dirFd, name) : null
      if (st?.type === S_IFLNK) throw new UntrustedFileError(`${abs} is a symlink: refused, not followed`)
      if (st?.type === S_IFIFO) throw new UntrustedFileError(`${abs} is a FIFO, not a regular file: refused`)
      throw e
    }
    try {
      checkOpened(fd, abs)
      setNonBlocking(fd, false)
      if (flags & O_TRUNC && statFd(fd).type === S_IFREG) ftruncateSync(fd, 0)
    } catch (e) {
      c.close(fd)
      throw e
    }
    return fd
  } finally {
    if (dirFd !== within?.fd) c.close(dirFd)
  }
}

function checkOpened(fd: number, path: string): void {
  const st = statFd(fd)
  if (st.type === S_IFCHR) return
  const euid = process.geteuid?.() ?? 0
  if (st.type !== S_IFREG) throw new UntrustedFileError(`${path} is not a regular file (mode ${st.mode.toString(8)}): refused`)
  if (st.uid !== euid) throw new UntrustedFileError(`${path} belongs to uid ${st.uid}, not to uid ${euid}: refused`)
  if (st.nlink !== 1) throw new UntrustedFileError(`${path} has ${st.nlink} hard links: refused`)
}
