// Plain fd I/O that works whether or not the fd is O_NONBLOCK: Node sets O_NONBLOCK on fds 0-2
// as soon as process.stdin/stdout are touched (yargs does it at import), so every loop here
// answers EAGAIN by poll(2)ing the fd and trying again.
import { c, errno } from './libc.js'
import { EAGAIN, EINTR, FD_CLOEXEC, F_GETFL, F_SETFD, F_SETFL, O_NONBLOCK } from './constants.js'
import { SysError, check } from './errors.js'
import { checkSpan } from './bounds.js'
import { waitReadable, waitWritable } from './poll.js'

/** One read(2). Returns the byte count (0 = EOF), or -1 when a non-blocking fd has nothing yet. */
export function readSome(fd: number, buf: Buffer, offset = 0, length = buf.length - offset): number {
  checkSpan('read', buf.length, offset, length)
  for (;;) {
    const n = Number(c.read(fd, offset === 0 ? buf : buf.subarray(offset), length))
    if (n >= 0) return n
    const err = errno()
    if (err === EAGAIN) return -1
    if (err !== EINTR) throw new SysError('read', err, `fd ${fd}`)
  }
}

/** Reads until `length` bytes are in or EOF; returns how many arrived (less than asked = EOF). */
export function readFull(fd: number, buf: Buffer, offset = 0, length = buf.length - offset): number {
  checkSpan('read', buf.length, offset, length)
  let done = 0
  while (done < length) {
    const n = readSome(fd, buf, offset + done, length - done)
    if (n === 0) break
    if (n < 0) { waitReadable(fd); continue }
    done += n
  }
  return done
}

/** One write(2). Returns the byte count, or -1 when a non-blocking fd is full. */
export function writeSome(fd: number, buf: Buffer, offset = 0, length = buf.length - offset): number {
  checkSpan('write', buf.length, offset, length)
  for (;;) {
    const n = Number(c.write(fd, offset === 0 ? buf : buf.subarray(offset), length))
    if (n >= 0) return n
    const err = errno()
    if (err === EAGAIN) return -1
    if (err !== EINTR) throw new SysError('write', err, `fd ${fd}`)
  }
}

/** Writes every byte, waiting for room as needed. */
export function writeAll(fd: number, buf: Buffer, offset = 0, length = buf.length - offset): void {
  checkSpan('write', buf.length, offset, length)
  let done = 0
  while (done < length) {
    const n = writeSome(fd, buf, offset + done, length - done)
    if (n < 0) { waitWritable(fd); continue }
    done += n
  }
}

export function close(fd: number): void {
  check(c.close(fd) as number, 'close', `fd ${fd}`)
}

/** Closes and ignores errors: for clean-up paths where the first error is the one worth reporting. */
export function closeQuietly(fd: number): void {
  if (fd >= 0) c.close(fd)
}

export function dup(fd: number): number {
  return check(c.dup(fd) as number, 'dup', `fd ${fd}`)
}

/** Makes `newFd` refer to what `oldFd` does (closing what it referred to), as dup2(2). */
export function dup2(oldFd: number, newFd: number): void {
  for (;;) {
    if ((c.dup2(oldFd, newFd) as number) >= 0) return
    const err = errno()
    if (err !== EINTR) throw new SysError('dup2', err, `fd ${oldFd} -> ${newFd}`)
  }
}

/** Marks `fd` close-on-exec: a program we start does not get it. */
export function setCloseOnExec(fd: number): void {
  check(c.fcntl(fd, F_SETFD, FD_CLOEXEC) as number, 'fcntl(F_SETFD)', `fd ${fd}`)
}

export function setNonBlocking(fd: number, nonBlocking: boolean): void {
  const flags = check(c.fcntl(fd, F_GETFL, 0) as number, 'fcntl(F_GETFL)', `fd ${fd}`)
  const want = nonBlocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
  if (want !== flags) check(c.fcntl(fd, F_SETFL, want) as number, 'fcntl(F_SETFL)', `fd ${fd}`)
}
