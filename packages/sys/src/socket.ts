import { renameSync, unlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { c, errno } from './libc.js'
import { EAGAIN, EINTR, O_CLOEXEC, SIOCOUTQ } from './constants.js'
import { SysError, check } from './errors.js'
import { waitReadable } from './poll.js'

const AF_UNIX = 1
const SOCK_STREAM = 1
const SOCK_CLOEXEC = O_CLOEXEC
// sizeof(struct sockaddr_un): u16 family + char sun_path[108]. CRIU truncates longer paths silently;
// we refuse them instead.
const SUN_PATH_MAX = 108
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
 * Binds and listens on a UNIX stream socket at `path` (an old socket file is replaced). The file is
 * created with `mode` (0600 by default) by narrowing the umask around bind(2), so there is no window
 * in which another user could connect. It is bound under a temporary name and renamed into place
 * once listening: whoever sees the file can connect at once (CRIU connects once, with no retry).
 */
export function listenUnix(path: string, mode = 0o600, backlog = 1): number {
  sockaddrUn(path) // refuse a path too long for sun_path before anything is created
  const tmp = join(dirname(path), `.sock-${process.pid}`)
  const addr = sockaddrUn(tmp)
  try { unlinkSync(tmp) } catch { /* nothing left over */ }
  const fd = check(c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) as number, 'socket')
  const old = process.umask(~mode & 0o777)
  try {
    check(c.bind(fd, addr, SOCKADDR_UN_SIZE) as number, 'bind', path)
    check(c.listen(fd, backlog) as number, 'listen', path)
    renameSync(tmp, path)
  } catch (e) {
    c.close(fd)
    try { unlinkSync(tmp) } catch { /* not created */ }
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
  const addr = sockaddrUn(path)
  const fd = check(c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) as number, 'socket')
  for (;;) {
    if ((c.connect(fd, addr, SOCKADDR_UN_SIZE) as number) === 0) return fd
    const err = errno()
    if (err === EINTR) continue
    c.close(fd)
    throw new SysError('connect', err, path)
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
