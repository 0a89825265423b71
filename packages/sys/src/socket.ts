import { basename, dirname } from 'node:path'
import { c, errno } from './libc.js'
import { EAGAIN, EINTR, ENOPROTOOPT, O_CLOEXEC, O_NONBLOCK, ENOENT, SIOCOUTQ } from './constants.js'
import { SysError, check } from './errors.js'
import { checkSpan } from './bounds.js'
import { waitReadable } from './poll.js'
import { AT_FDCWD, O_DIRECTORY, O_RDONLY, S_IFSOCK, openAt, pathAt, renameAt, statAt, unlinkAt } from './at.js'

const AF_UNIX = 1
const SOCK_STREAM = 1
const SOCK_CLOEXEC = O_CLOEXEC
const SOCK_NONBLOCK = O_NONBLOCK
// sizeof(struct sockaddr_un): u16 family + char sun_path[108]. CRIU truncates longer paths silently;
// we refuse them instead.
const SUN_PATH_MAX = 108
const SOL_SOCKET = 1
// asm-generic/socket.h: the same numbers on x86_64 and arm64. SO_PASSPIDFD is Linux >= 6.5.
const SO_PASSCRED = 16
const SO_PASSPIDFD = 76
const SOCKADDR_UN_SIZE = 2 + SUN_PATH_MAX

function sockaddrUn(path: string): Buffer {
  const bytes = Buffer.from(path)
  if (bytes.length >= SUN_PATH_MAX) {
    throw new Error(`socket path too long for AF_UNIX (${bytes.length} bytes, limit ${SUN_PATH_MAX - 1}): ${path}`)
  }
  const addr = Buffer.alloc(SOCKADDR_UN_SIZE)
  addr.writeUInt16LE(AF_UNIX, 0)
  bytes.copy(addr, 2)
  return addr
}

/**
 * Binds and listens on a UNIX stream socket at `path` (an old socket file is replaced). See
 * listenUnixAt; this opens the parent directory by path, for callers that have no checked dir
 * fd. Bound through the directory's fd, so only the name is limited by sun_path, not the path.
 */
export function listenUnix(path: string, mode = 0o600, backlog = 1): number {
  const dir = openAt(AT_FDCWD, dirname(path), O_RDONLY | O_DIRECTORY, 0)
  try {
    return listenUnixAt(dir, basename(path), mode, backlog)
  } finally {
    c.close(dir)
  }
}

/**
 * Binds and listens on a UNIX stream socket named `name` in the directory open at `dirFd` (an
 * old file of that name is replaced: callers decide first whether one may be, see probeUnixAt).
 * The file is created with `mode` (0600 by default) by narrowing the umask around bind(2), so
 * there is no window in which another user could connect. It is bound under a temporary name
 * and renamed into place once listening: whoever sees the file can connect at once (CRIU
 * connects once, with no retry). bind(2) only takes a path: /proc/self/fd/N/NAME reaches the
 * directory through its fd, however deep it is.
 */
export function listenUnixAt(dirFd: number, name: string, mode = 0o600, backlog = 1): number {
  const tmp = `.sock-${process.pid}`
  const addr = sockaddrUn(pathAt(dirFd, tmp))
  try { unlinkAt(dirFd, tmp) } catch { /* nothing left over */ }
  const fd = check(c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) as number, 'socket')
  const old = process.umask(~mode & 0o777)
  try {
    check(c.bind(fd, addr, SOCKADDR_UN_SIZE) as number, 'bind', name)
    check(c.listen(fd, backlog) as number, 'listen', name)
    renameAt(dirFd, tmp, dirFd, name)
  } catch (e) {
    c.close(fd)
    try { unlinkAt(dirFd, tmp) } catch { /* not created */ }
    throw e
  } finally {
    process.umask(old)
  }
  return fd
}

/** accept4(2), waiting for a client if the listener is non-blocking. */
export function acceptOne(listenFd: number): number {
  for (;;) {
    const fd = c.accept4(listenFd, null, null, SOCK_CLOEXEC) as number
    if (fd >= 0) return fd
    const err = errno()
    if (err === EAGAIN) { waitReadable(listenFd); continue }
    if (err !== EINTR) throw new SysError('accept4', err)
  }
}

/** Connects to a UNIX stream socket (used by tests and the CRIU simulator). */
export function connectUnix(path: string): number {
  return connectAddr(sockaddrUn(path), path, null)
}

/** Connects to the socket `name` in the directory open at `dirFd`. */
export function connectUnixAt(dirFd: number, name: string): number {
  return connectAddr(sockaddrUn(pathAt(dirFd, name)), name, null)
}

function connectAddr(addr: Buffer, what: string, bindTo: Buffer | null, flags = 0): number {
  const fd = check(c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0) as number, 'socket')
  if (bindTo !== null && (c.bind(fd, bindTo, bindTo.length) as number) < 0) {
    const err = errno()
    c.close(fd)
    throw new SysError('bind', err, 'probe address')
  }
  for (;;) {
    if ((c.connect(fd, addr, SOCKADDR_UN_SIZE) as number) === 0) return fd
    const err = errno()
    if (err === EINTR) continue
    c.close(fd)
    throw new SysError('connect', err, what)
  }
}

// A probe connects from this abstract address (a leading NUL: no file), so that the listener
// can tell it from a real client and drop it: our probe must not be taken for CRIU.
const PROBE_PREFIX = 'criu-pipes-probe'
const ECONNREFUSED = 111
let probes = 0

export type SocketState = 'absent' | 'stale' | 'live' | 'not-a-socket'

/**
 * What sits at `name` in `dirFd`: nothing, a socket nobody listens on any more (left by a
 * process that died), a live one (something accepted our connect), or something else.
 */
export function probeUnixAt(dirFd: number, name: string): SocketState {
  const st = statAt(dirFd, name)
  if (st === null) return 'absent'
  if (st.type !== S_IFSOCK) return 'not-a-socket'
  let fd: number
  try {
    // Non-blocking: with the listener's backlog full, a blocking connect would wait for an accept.
    fd = connectAddr(sockaddrUn(pathAt(dirFd, name)), name, abstractAddr(`${PROBE_PREFIX}-${process.pid}-${probes++}`), SOCK_NONBLOCK)
  } catch (e) {
    if (e instanceof SysError && e.errno === EAGAIN) return 'live' // listening, and busy
    if (e instanceof SysError && (e.errno === ECONNREFUSED || e.errno === ENOENT)) return e.errno === ENOENT ? 'absent' : 'stale'
    throw e
  }
  c.close(fd)
  return 'live'
}

function abstractAddr(name: string): Buffer {
  const bytes = Buffer.from(name)
  const addr = Buffer.alloc(2 + 1 + bytes.length)
  addr.writeUInt16LE(AF_UNIX, 0)
  bytes.copy(addr, 3)
  return addr
}

/**
 * accept4(2) of one waiting connection (the listener must be readable, or block): the client's
 * fd, or null when it was another process's probeUnixAt (closed at once), or nothing is waiting
 * on a non-blocking listener.
 */
export function acceptClient(listenFd: number): number | null {
  const peer = Buffer.alloc(SOCKADDR_UN_SIZE)
  const len = new Uint32Array([SOCKADDR_UN_SIZE])
  for (;;) {
    const fd = c.accept4(listenFd, peer, len, SOCK_CLOEXEC) as number
    if (fd >= 0) {
      const isProbe = len[0]! > 3 && peer[2] === 0 && peer.toString('latin1', 3, len[0]).startsWith(PROBE_PREFIX)
      if (!isProbe) return fd
      c.close(fd)
      return null
    }
    const err = errno()
    if (err === EAGAIN) return null
    if (err !== EINTR) throw new SysError('accept4', err)
  }
}

const outq = new Int32Array(1)
/**
 * SIOCOUTQ: bytes sent on this socket that are not consumed yet. For AF_UNIX that is what the peer
 * has not read (0 once it has read everything); for TCP, what the peer's kernel has not acked.
 */
export function bytesUnsent(fd: number): number {
  check(c.ioctlPtr(fd, SIOCOUTQ, outq) as number, 'ioctl(SIOCOUTQ)', `fd ${fd}`)
  return outq[0]!
}

/**
 * Asks that every recvmsg with a control buffer on this socket (or, set on a listener, on the
 * connections it accepts) say who sent the data (see recvFd): SCM_PIDFD, a pidfd of the sender,
 * where the kernel has SO_PASSPIDFD (Linux >= 6.5); else SCM_CREDENTIALS (SO_PASSCRED), its pid.
 */
export function passSender(fd: number): 'pidfd' | 'pid' {
  const on = new Int32Array([1])
  if ((c.setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, on, 4) as number) === 0) return 'pidfd'
  const err = errno()
  if (err !== ENOPROTOOPT) throw new SysError('setsockopt(SO_PASSPIDFD)', err)
  check(c.setsockopt(fd, SOL_SOCKET, SO_PASSCRED, on, 4) as number, 'setsockopt(SO_PASSCRED)')
  return 'pid'
}

/**
 * A connected pair of close-on-exec UNIX stream sockets, with no name anywhere: nobody but the
 * holders of the two fds (and those they pass them to) can reach either end.
 */
export function socketPair(): [number, number] {
  const sv = new Int32Array(2)
  check(c.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) as number, 'socketpair')
  return [sv[0]!, sv[1]!]
}

const MSG_PEEK = 2

/**
 * Copies the first `length` bytes waiting on a blocking socket into `buf` at `offset` without
 * taking them (recv MSG_PEEK): they stay queued. Waits for at least one; returns how many were
 * copied, 0 at EOF.
 */
export function peekSome(fd: number, buf: Buffer, offset: number, length: number): number {
  checkSpan('recv', buf.length, offset, length)
  for (;;) {
    const n = Number(c.recv(fd, buf.subarray(offset), length, MSG_PEEK))
    if (n >= 0) return n
    const err = errno()
    if (err !== EINTR) throw new SysError('recv', err, `fd ${fd}`)
  }
}
