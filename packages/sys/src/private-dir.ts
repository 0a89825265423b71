// The trust rule for every directory these binaries (running as root, next to sockets CRIU
// trusts) put sockets or files in, or read an image from: it belongs to root or to us, nobody
// else may write to it, and it is not reached through a symlink in its last component. A
// directory another user could have created or could write to is refused, never used: they
// could move our socket aside and put theirs in its place, or swap a file under us.
import { lstatSync, readlinkSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { AT_FDCWD, O_DIRECTORY, O_RDONLY, S_IFLNK, mkdirAt, openAt, pathAt, statAt, statFd, type FileStat } from './at.js'
import { c, errno } from './libc.js'
import { EEXIST, ENOENT, O_CLOEXEC } from './constants.js'
import { SysError } from './errors.js'

/**
 * Group- or world-writable: someone else may add, remove or rename entries (sticky bit or not).
 * Group write counts for group 0 too: only uid 0 is root. Membership of gid 0 grants no
 * privilege, and it is handed to unprivileged users on purpose (OpenShift runs containers as an
 * arbitrary uid in gid 0, with their directories made group-0-writable for exactly that uid);
 * Debian gives gid 0 to nobody and makes no directory root:root group-writable (the shared ones
 * use their own groups: /var/local root:staff, /var/mail root:mail), and sshd's StrictModes
 * refuses any group-writable directory the same way.
 */
const OTHERS_WRITE = 0o022
/** The sticky bit: in a shared directory (/tmp) only an entry's owner may rename or remove it. */
const S_ISVTX = 0o1000
/** A directory we create: ours alone. */
const PRIVATE_MODE = 0o700
const ELOOP = 40
const ENOTDIR = 20

/** A directory refused by the trust rule: the message says which and why, in one line. */
export class UntrustedDirError extends Error {
  override name = 'UntrustedDirError'
}

export interface PrivateDirOptions {
  /** Create it (mode 0700), and every missing parent, if it does not exist. Default false. */
  create?: boolean
  /**
   * Accept a sticky directory others may write to (/tmp): for a file opened with the checks of
   * private-file.ts, whose owner is checked after the open, and which nobody else may rename or
   * remove there. Never for a directory we put sockets in or read an image from. Default false.
   */
  sticky?: boolean
}

/**
 * Opens `path` as a directory fd, refusing it unless it passes the trust rule; with `create`,
 * a missing directory and its missing parents are made with mode 0700 (each checked the same
 * way: another user may have made one first). Use the fd for everything in it afterwards
 * (openAt, statAt, pathAt...), never the path: the path may point elsewhere a moment later.
 * The caller closes the fd.
 */
export function openPrivateDir(path: string, opts: PrivateDirOptions = {}): number {
  const abs = resolve(path) // no trailing slash: with one, the kernel follows a final symlink
  const viaFdLink = FD_LINK.test(abs)
  if (!viaFdLink) checkPathWalk(abs)
  let fd: number
  try {
    fd = viaFdLink ? openFdLink(abs) : openAt(AT_FDCWD, abs, O_RDONLY | O_DIRECTORY, 0)
  } catch (e) {
    if (!(e instanceof SysError)) throw e
    if (e.errno === ENOENT && opts.create && abs !== '/') return createPrivateDir(abs)
    throw refusal(abs, e)
  }
  return checked(fd, abs, opts.sticky === true)
}

/** `fd` once it passed checkPrivateDir; closed if it did not. */
function checked(fd: number, path: string, sticky = false): number {
  try {
    checkPrivateDir(fd, path, sticky)
  } catch (e) {
    c.close(fd)
    throw e
  }
  return fd
}

// CRIU hands its action scripts CRTOOLS_IMAGE_DIR=/proc/PID/fd/N: its own fd of the images
// directory. That is no symlink anyone could plant (the kernel makes it, in /proc), and the only
// way to the directory CRIU is using: it is followed, and what it leads to is checked as usual.
const FD_LINK = /^\/proc\/(\d+|self|thread-self)\/fd\/\d+$/

function openFdLink(path: string): number {
  const fd = c.openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0) as number
  if (fd < 0) throw new SysError('open', errno(), path)
  return fd
}

/**
 * Checks an open directory against the trust rule; `path` names it in the error. The directories
 * above it are checked too, because CRIU and the operator reach it by path: each must be ours or
 * root's, and not writable by others unless sticky (/tmp), or another user could rename the
 * whole directory away and put theirs at the path.
 */
export function checkPrivateDir(fd: number, path: string, sticky = false): void {
  const st = statFd(fd)
  const euid = process.geteuid?.() ?? 0
  if (st.uid !== 0 && st.uid !== euid) {
    throw new UntrustedDirError(`${path} belongs to uid ${st.uid}, not to root or uid ${euid}: refusing to use it`)
  }
  if (st.mode & OTHERS_WRITE && !(sticky && st.mode & S_ISVTX)) {
    throw new UntrustedDirError(`${path} is writable by ${writers(st)} (mode ${(st.mode & 0o7777).toString(8)}): refusing to use it`)
  }
  // The directory's real path (no symlinks), from the fd: then each parent, up to /.
  let dir = readlinkSync(pathAt(fd))
  while (dir !== '/') {
    dir = dirname(dir)
    const up = statAt(AT_FDCWD, dir)
    if (up === null) break // moved meanwhile: what we hold is still the directory we checked
    refuseAbove(path, dir, up, euid)
  }
}

/**
 * The path as given, before it is opened: the kernel follows a symlink in any component but the
 * last, so each one on the way must be root's or ours (a symlink another user owns could point
 * anywhere: `/tmp/theirs -> /etc` made root create files in /etc/cron.d), and each directory it
 * passes through must pass the parent rule (or its owner could swap the next component). The
 * directories reached are checked again, by their real path, once the fd is open. A component
 * that does not exist ends the walk: what is created below it is made and checked by us.
 */
function checkPathWalk(abs: string): void {
  const euid = process.geteuid?.() ?? 0
  const parts = abs.split('/').filter(Boolean)
  for (let i = 0; i < parts.length - 1; i++) {
    const p = `/${parts.slice(0, i + 1).join('/')}`
    const link = lstatSync(p, { throwIfNoEntry: false })
    if (link === undefined) return
    if (link.isSymbolicLink() && link.uid !== 0 && link.uid !== euid) {
      throw new UntrustedDirError(`${abs}: ${p} on its path is a symbolic link owned by uid ${link.uid}, who could point it anywhere: refusing to follow it`)
    }
    const st = statSync(p, { throwIfNoEntry: false })
    if (st === undefined || !st.isDirectory()) return // the open says what is wrong
    refuseAbove(abs, p, { uid: st.uid, gid: st.gid, mode: st.mode }, euid)
  }
}

/** The parent rule for `dir`, on the way to `path`: root's or ours, and nobody else may write it unless sticky. */
function refuseAbove(path: string, dir: string, st: Pick<FileStat, 'uid' | 'gid' | 'mode'>, euid: number): void {
  const foreign = st.uid !== 0 && st.uid !== euid
  if (!foreign && !(st.mode & OTHERS_WRITE && !(st.mode & S_ISVTX))) return
  throw new UntrustedDirError(
    `${path}: ${dir} above it ${foreign ? `belongs to uid ${st.uid}` : `is writable by ${writers(st)} (mode ${(st.mode & 0o7777).toString(8)})`}, ` +
      'so another user could put another directory in its place: refusing to use it',
  )
}

/** Who besides the owner may write a directory with OTHERS_WRITE bits: named in refusals. */
const writers = (st: Pick<FileStat, 'gid' | 'mode'>): string => (st.mode & 0o002 ? 'every user' : `its group, gid ${st.gid}`)

/** Makes `abs` under its parent (made first if missing), then opens and checks what is there. */
function createPrivateDir(abs: string): number {
  const parent = dirname(abs)
  const base = abs.slice(parent === '/' ? 1 : parent.length + 1)
  // An existing parent is only the place we create in (it may be /tmp); one we create is checked.
  let parentFd: number
  try {
    parentFd = openAt(AT_FDCWD, parent, O_RDONLY | O_DIRECTORY, 0)
  } catch (e) {
    if (!(e instanceof SysError && e.errno === ENOENT)) throw e instanceof SysError ? refusal(parent, e) : e
    parentFd = createPrivateDir(parent)
  }
  try {
    try {
      mkdirAt(parentFd, base, PRIVATE_MODE, abs)
    } catch (e) {
      // Someone made it first: then it is theirs to pass the check below, like any existing one.
      if (!(e instanceof SysError && e.errno === EEXIST)) throw e
    }
    let fd: number
    try {
      fd = openAt(parentFd, base, O_RDONLY | O_DIRECTORY, 0, abs)
    } catch (e) {
      throw e instanceof SysError ? refusal(abs, e) : e
    }
    return checked(fd, abs)
  } finally {
    c.close(parentFd)
  }
}

function refusal(path: string, e: SysError): Error {
  // O_NOFOLLOW|O_DIRECTORY on a symlink fails with ENOTDIR (ELOOP without O_DIRECTORY).
  if (e.errno === ELOOP || e.errno === ENOTDIR) {
    let link = false
    try { link = statAt(AT_FDCWD, path)?.type === S_IFLNK } catch { /* a parent is not a directory */ }
    if (link) return new UntrustedDirError(`${path} is a symbolic link: refusing to follow it`)
    return new UntrustedDirError(`${path} is not a directory`)
  }
  if (e.errno === ENOENT) return new UntrustedDirError(`${path} does not exist`)
  return e
}
