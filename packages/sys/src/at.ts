// Work relative to a directory fd (openat(2) and friends): once a directory has been opened and
// checked (private-dir.ts), every name is looked up in THAT directory, so nobody can swap it, or
// a component above it, for a symlink between the check and the use. Nothing here follows a
// symlink in the name it is given.
import { constants, readdirSync } from 'node:fs'
import { c, errno } from './libc.js'
import { EINTR, ENOENT, O_CLOEXEC } from './constants.js'
import { SysError, check } from './errors.js'

// Open flags differ between architectures (O_DIRECTORY, O_NOFOLLOW): take Node's, which come
// from the platform's headers.
export const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NOFOLLOW, O_DIRECTORY } = constants
export const AT_FDCWD = -100
const AT_SYMLINK_NOFOLLOW = 0x100
const AT_REMOVEDIR = 0x200
const AT_EMPTY_PATH = 0x1000
const AT_SYMLINK_FOLLOW = 0x400
// O_TMPFILE is __O_TMPFILE (the same bit on every architecture) with O_DIRECTORY (which is not).
const O_TMPFILE = 0o20000000 | O_DIRECTORY
/** renameat2(2): fail with EEXIST instead of replacing the target. */
export const RENAME_NOREPLACE = 1

// struct statx (linux/stat.h): the same layout everywhere. Offsets of the fields used.
const STATX_SIZE = 256
const STATX_BASIC_STATS = 0x7ff
const STX_NLINK = 16, STX_UID = 20, STX_GID = 24, STX_MODE = 28, STX_INO = 32, STX_SIZE = 40, STX_DEV_MAJOR = 136, STX_DEV_MINOR = 140
const S_IFMT = 0o170000
export const S_IFDIR = 0o040000
export const S_IFREG = 0o100000
export const S_IFLNK = 0o120000
export const S_IFSOCK = 0o140000
export const S_IFCHR = 0o020000
export const S_IFIFO = 0o010000

export interface FileStat {
  /** st_mode: type and permission bits. */
  mode: number
  uid: number
  gid: number
  ino: bigint
  dev: string
  size: number
  /** Hard links to the inode. */
  nlink: number
  /** The S_IF* type bits of mode. */
  type: number
}

function decodeStatx(b: Buffer): FileStat {
  const mode = b.readUInt16LE(STX_MODE)
  return {
    mode, type: mode & S_IFMT, uid: b.readUInt32LE(STX_UID), gid: b.readUInt32LE(STX_GID),
    ino: b.readBigUInt64LE(STX_INO), size: Number(b.readBigUInt64LE(STX_SIZE)), nlink: b.readUInt32LE(STX_NLINK),
    dev: `${b.readUInt32LE(STX_DEV_MAJOR)}:${b.readUInt32LE(STX_DEV_MINOR)}`,
  }
}

/** What `name` in `dirFd` is, the name itself (a symlink is reported as one); null if absent. */
export function statAt(dirFd: number, name: string): FileStat | null {
  const b = Buffer.alloc(STATX_SIZE)
  if ((c.statx(dirFd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, b) as number) === 0) return decodeStatx(b)
  const err = errno()
  if (err === ENOENT) return null
  throw new SysError('statx', err, name)
}

/** fstat(2) of an open fd. */
export function statFd(fd: number): FileStat {
  const b = Buffer.alloc(STATX_SIZE)
  check(c.statx(fd, '', AT_EMPTY_PATH, STATX_BASIC_STATS, b) as number, 'statx', `fd ${fd}`)
  return decodeStatx(b)
}

/**
 * openat(2) with O_NOFOLLOW and O_CLOEXEC always added: a symlink at `name` is refused (ELOOP),
 * never followed. `name` should be one component; `detail` names it in errors.
 */
export function openAt(dirFd: number, name: string, flags: number, mode = 0o600, detail = name): number {
  for (;;) {
    const fd = c.openat(dirFd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode) as number
    if (fd >= 0) return fd
    const err = errno()
    if (err !== EINTR) throw new SysError('open', err, detail)
  }
}

/**
 * An unnamed regular file in the directory `dirFd` (O_TMPFILE), open for writing: it has no name
 * until linkFdAt gives it one, and is gone with its last fd whatever ends the process (a signal,
 * SIGKILL): nothing half-written is ever seen under a name.
 */
export function openTmpFileAt(dirFd: number, mode = 0o600, detail = '(unnamed file)'): number {
  return openAt(dirFd, '.', O_TMPFILE | O_WRONLY, mode, detail)
}

/** Names the open file `fd` (an O_TMPFILE one) `name` in `dirFd`: EEXIST if the name is taken, never replaced. */
export function linkFdAt(fd: number, dirFd: number, name: string, detail = name): void {
  // AT_EMPTY_PATH links the fd itself; it needs CAP_DAC_READ_SEARCH (root has it), without which
  // the kernel says ENOENT, and the fd's /proc link does the same for its owner.
  if ((c.linkat(fd, '', dirFd, name, AT_EMPTY_PATH) as number) === 0) return
  const err = errno()
  if (err !== ENOENT) throw new SysError('link', err, detail)
  check(c.linkat(AT_FDCWD, `/proc/self/fd/${fd}`, dirFd, name, AT_SYMLINK_FOLLOW) as number, 'link', detail)
}

/** A directory below `dirFd`, opened for use as a dirFd itself (no symlink followed). */
export function openDirAt(dirFd: number, name: string, detail = name): number {
  return openAt(dirFd, name, O_RDONLY | O_DIRECTORY, 0, detail)
}

/** mkdirat(2). Throws SysError (EEXIST if anything is there, a symlink included). */
export function mkdirAt(dirFd: number, name: string, mode = 0o700, detail = name): void {
  check(c.mkdirat(dirFd, name, mode) as number, 'mkdir', detail)
}

/** unlinkat(2) of a file (or, with `dir`, an empty directory). */
export function unlinkAt(dirFd: number, name: string, dir = false, detail = name): void {
  check(c.unlinkat(dirFd, name, dir ? AT_REMOVEDIR : 0) as number, dir ? 'rmdir' : 'unlink', detail)
}

/** renameat2(2): `flags` RENAME_NOREPLACE refuses to replace an existing target (EEXIST). */
export function renameAt(fromDir: number, from: string, toDir: number, to: string, flags = 0, detail = `${from} -> ${to}`): void {
  check(c.renameat2(fromDir, from, toDir, to, flags) as number, 'rename', detail)
}

/**
 * A path that names `name` inside the directory open at `dirFd`, for interfaces that only take
 * paths (readdir, bind/connect of AF_UNIX sockets): /proc/self/fd/N is the directory itself,
 * wherever it has been moved, and whatever now sits at the path it was opened by.
 */
export function pathAt(dirFd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${dirFd}` : `/proc/self/fd/${dirFd}/${name}`
}

export interface DirEntry { name: string; type: number }

/** The names in the directory open at `dirFd`, with their type (symlinks not followed), sorted. */
export function listAt(dirFd: number): DirEntry[] {
  return readdirSync(pathAt(dirFd)).sort().map(name => {
    const st = statAt(dirFd, name)
    return { name, type: st?.type ?? 0 }
  }).filter(e => e.type !== 0)
}
