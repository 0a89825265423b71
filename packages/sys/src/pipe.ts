import { S_IFIFO, statFd } from './at.js'
import { c, errno } from './libc.js'
import { EAGAIN, EINTR, EINVAL, F_GETPIPE_SZ, F_SETPIPE_SZ, FIONREAD, O_CLOEXEC, SPLICE_F_GIFT, SPLICE_F_NONBLOCK } from './constants.js'
import { SysError, check } from './errors.js'
import { waitReadable, waitWritable } from './poll.js'
import { address } from './libc.js'
import { readFull, writeAll } from './fd.js'
import { checkSpan } from './bounds.js'

/** pipe2(2): returns [readEnd, writeEnd]. */
export function makePipe(flags = O_CLOEXEC): [number, number] {
  const fds = new Int32Array(2)
  check(c.pipe2(fds, flags) as number, 'pipe2')
  return [fds[0]!, fds[1]!]
}

export function isFifo(fd: number): boolean {
  // statx, not node:fs (file.ts says why)
  try {
    return statFd(fd).type === S_IFIFO
  } catch {
    return false
  }
}

export function pipeSize(fd: number): number {
  return check(c.fcntl(fd, F_GETPIPE_SZ, 0) as number, 'fcntl(F_GETPIPE_SZ)', `fd ${fd}`)
}

/** F_SETPIPE_SZ; returns the capacity the kernel granted. Throws (EPERM above fs.pipe-max-size). */
export function setPipeSize(fd: number, bytes: number): number {
  return check(c.fcntl(fd, F_SETPIPE_SZ, bytes) as number, 'fcntl(F_SETPIPE_SZ)', `fd ${fd}, ${bytes} bytes`)
}

/**
 * Asks for `bytes` of pipe capacity and settles for the most the kernel grants: without
 * CAP_SYS_RESOURCE nothing above fs.pipe-max-size (1 MiB by default) is allowed. Never fails.
 */
export function trySetPipeSize(fd: number, bytes: number): number {
  for (let size = bytes; size > PIPE_MIN; size = Math.floor(size / 2)) {
    const got = c.fcntl(fd, F_SETPIPE_SZ, size) as number
    if (got >= 0) return got
  }
  return pipeSize(fd)
}

const fionreadOut = new Int32Array(1)
/** FIONREAD: bytes queued in a pipe (or socket), readable right now. */
export function bytesQueued(fd: number): number {
  check(c.ioctlPtr(fd, FIONREAD, fionreadOut) as number, 'ioctl(FIONREAD)', `fd ${fd}`)
  return fionreadOut[0]!
}

/** One splice(2) between fds, at least one a pipe. Returns bytes moved (0 = EOF on input) or -1 on EAGAIN. */
export function spliceSome(fdIn: number, fdOut: number, length: number, flags = 0): number {
  for (;;) {
    const n = Number(c.splice(fdIn, null, fdOut, null, length, flags))
    if (n >= 0) return n
    const err = errno()
    if (err === EAGAIN) return -1
    if (err !== EINTR) throw new SysError('splice', err, `fd ${fdIn} -> fd ${fdOut}`)
  }
}

/**
 * Moves exactly `length` bytes with splice(2) unless the input ends first; returns the count moved.
 * On EAGAIN it cannot tell which side is not ready, so it waits for input, then for room.
 */
export function spliceExact(fdIn: number, fdOut: number, length: number, flags = 0): number {
  let done = 0
  while (done < length) {
    const n = spliceSome(fdIn, fdOut, length - done, flags)
    if (n === 0) break
    if (n < 0) { waitReadable(fdIn); waitWritable(fdOut); continue }
    done += n
  }
  return done
}

const COPY_BUF = 1 << 20
// The default capacity of a pipe (16 pages): below it, shrinking is not worth a syscall.
const PIPE_MIN = 65536
/**
 * Moves exactly `length` bytes unless the input ends first, without a copy in user space where
 * the kernel allows: splice(2) when one end is a pipe, sendfile(2) from a regular file to
 * anything (a shard file into /dev/null or an extracted file), a read/write copy otherwise.
 */
export function copyExact(fdIn: number, fdOut: number, length: number, flags = 0): number {
  try {
    return spliceExact(fdIn, fdOut, length, flags)
  } catch (e) {
    if (!(e instanceof SysError && e.errno === EINVAL)) throw e
  }
  const sent = sendfileSome(fdIn, fdOut, length)
  if (sent >= 0) return sent
  const buf = Buffer.allocUnsafe(Math.min(COPY_BUF, length))
  let done = 0
  while (done < length) {
    const n = readFull(fdIn, buf, 0, Math.min(buf.length, length - done))
    if (n === 0) break
    writeAll(fdOut, buf, 0, n)
    done += n
  }
  return done
}

/** sendfile(2) until `length` bytes or EOF; -1 when the kernel cannot sendfile between these fds. */
function sendfileSome(fdIn: number, fdOut: number, length: number): number {
  let done = 0
  while (done < length) {
    const n = Number(c.sendfile(fdOut, fdIn, null, length - done))
    if (n > 0) { done += n; continue }
    if (n === 0) break
    const err = errno()
    if (err === EINVAL && done === 0) return -1
    if (err === EAGAIN) { waitReadable(fdIn); waitWritable(fdOut); continue }
    if (err !== EINTR) throw new SysError('sendfile', err, `fd ${fdIn} -> fd ${fdOut}`)
  }
  return done
}

/** tee(2): duplicates up to `length` queued bytes of one pipe into another without consuming them. */
export function tee(fdIn: number, fdOut: number, length: number, flags = 0): number {
  return Number(check(c.tee(fdIn, fdOut, length, flags) as bigint | number, 'tee'))
}

const iov = Buffer.alloc(16)
/**
 * One non-blocking vmsplice(2) of [ptr, ptr+length): bytes moved, or -1 when the pipe is full.
 * SPLICE_F_NONBLOCK is needed even on an O_NONBLOCK fd: vmsplice waits for room otherwise.
 */
export function vmspliceSome(fd: number, ptr: bigint, length: number, gift = false): number {
  iov.writeBigUInt64LE(ptr, 0)
  iov.writeBigUInt64LE(BigInt(length), 8)
  for (;;) {
    const n = Number(c.vmsplice(fd, iov, 1, SPLICE_F_NONBLOCK | (gift ? SPLICE_F_GIFT : 0)))
    if (n >= 0) return n
    const err = errno()
    if (err === EAGAIN) return -1
    if (err !== EINTR) throw new SysError('vmsplice', err, `fd ${fd}`)
  }
}

/**
 * vmsplice(2) all of [ptr, ptr+length) into a pipe. With `gift` the pages are handed over: the
 * caller must not touch or reuse them afterwards, only munmap them.
 */
export function vmspliceAll(fd: number, ptr: bigint | Buffer, length: number, gift = false): void {
  if (typeof ptr !== 'bigint') checkSpan('vmsplice', ptr.length, 0, length)
  const base = typeof ptr === 'bigint' ? ptr : address(ptr)
  let done = 0
  while (done < length) {
    iov.writeBigUInt64LE(base + BigInt(done), 0)
    iov.writeBigUInt64LE(BigInt(length - done), 8)
    const n = Number(c.vmsplice(fd, iov, 1, gift ? SPLICE_F_GIFT : 0))
    if (n >= 0) { done += n; continue }
    const err = errno()
    if (err === EAGAIN) { waitWritable(fd); continue }
    if (err !== EINTR) throw new SysError('vmsplice', err, `fd ${fd}`)
  }
}
