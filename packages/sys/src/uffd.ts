// userfaultfd(2) ioctls and messages, x86_64 ABI (linux/userfaultfd.h). A lazy-pages daemon gets an
// fd that CRIU already API'd (features FORK|REMAP|REMOVE|UNMAP): calling UFFDIO_API again on it
// fails with EINVAL, so uffdApi() is only for fds we open ourselves (tests, benchmarks).
import { c, errno } from './libc.js'
import { O_CLOEXEC, O_NONBLOCK } from './constants.js'
import { SysError, check } from './errors.js'

export const UFFD_API = 0xaa
export const UFFDIO_API = 0xc018aa3f
export const UFFDIO_REGISTER = 0xc020aa00
export const UFFDIO_UNREGISTER = 0x8010aa01
export const UFFDIO_WAKE = 0x8010aa02
export const UFFDIO_COPY = 0xc028aa03
export const UFFDIO_ZEROPAGE = 0xc020aa04
const SYS_userfaultfd = 323

export const UFFDIO_REGISTER_MODE_MISSING = 1
export const UFFDIO_COPY_MODE_DONTWAKE = 1

export const UFFD_FEATURE_EVENT_FORK = 1 << 1
export const UFFD_FEATURE_EVENT_REMAP = 1 << 2
export const UFFD_FEATURE_EVENT_REMOVE = 1 << 3
export const UFFD_FEATURE_EVENT_UNMAP = 1 << 6

export const UFFD_EVENT_PAGEFAULT = 0x12
export const UFFD_EVENT_FORK = 0x13
export const UFFD_EVENT_REMAP = 0x14
export const UFFD_EVENT_REMOVE = 0x15
export const UFFD_EVENT_UNMAP = 0x16

export const UFFD_MSG_SIZE = 32

export type UffdMsg =
  | { event: 'pagefault'; flags: number; address: number }
  | { event: 'fork'; ufd: number }
  | { event: 'remap'; from: number; to: number; len: number }
  | { event: 'remove'; start: number; end: number }
  | { event: 'unmap'; start: number; end: number }
  | { event: 'unknown'; code: number }

// User addresses on x86_64 are below 2^47 (2^56 with LA57 and an explicit hint), so they fit a JS
// number exactly; u64() refuses anything that would not.
function u64(buf: Buffer, off: number): number {
  const v = buf.readBigUInt64LE(off)
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`userfaultfd message: value 0x${v.toString(16)} out of range`)
  return Number(v)
}

export function decodeUffdMsg(buf: Buffer, off = 0): UffdMsg {
  const code = buf[off]!
  switch (code) {
    case UFFD_EVENT_PAGEFAULT: return { event: 'pagefault', flags: u64(buf, off + 8), address: u64(buf, off + 16) }
    case UFFD_EVENT_FORK: return { event: 'fork', ufd: buf.readUInt32LE(off + 8) }
    case UFFD_EVENT_REMAP: return { event: 'remap', from: u64(buf, off + 8), to: u64(buf, off + 16), len: u64(buf, off + 24) }
    case UFFD_EVENT_REMOVE: return { event: 'remove', start: u64(buf, off + 8), end: u64(buf, off + 16) }
    case UFFD_EVENT_UNMAP: return { event: 'unmap', start: u64(buf, off + 8), end: u64(buf, off + 16) }
    default: return { event: 'unknown', code }
  }
}

/** A new userfaultfd (non-blocking, close-on-exec), for tests and benchmarks. */
export function uffdOpen(): number {
  return Number(check(BigInt(c.syscall1(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK)), 'userfaultfd'))
}

export function uffdApi(fd: number, features = 0): { features: bigint; ioctls: bigint } {
  const s = Buffer.alloc(24)
  s.writeBigUInt64LE(BigInt(UFFD_API), 0)
  s.writeBigUInt64LE(BigInt(features), 8)
  check(c.ioctlPtr(fd, UFFDIO_API, s) as number, 'ioctl(UFFDIO_API)')
  return { features: s.readBigUInt64LE(8), ioctls: s.readBigUInt64LE(16) }
}

export function uffdRegister(fd: number, start: number, len: number, mode = UFFDIO_REGISTER_MODE_MISSING): bigint {
  const s = Buffer.alloc(32)
  s.writeBigUInt64LE(BigInt(start), 0)
  s.writeBigUInt64LE(BigInt(len), 8)
  s.writeBigUInt64LE(BigInt(mode), 16)
  check(c.ioctlPtr(fd, UFFDIO_REGISTER, s) as number, 'ioctl(UFFDIO_REGISTER)')
  return s.readBigUInt64LE(24)
}

/** Result of an ioctl whose failures a daemon must branch on (EAGAIN, EEXIST, ENOENT, ESRCH...). */
export interface UffdResult { ok: boolean; errno: number; bytes: number }

function range(start: number, len: number, size: number): Buffer {
  const s = Buffer.alloc(size)
  s.writeBigUInt64LE(BigInt(start), 0)
  s.writeBigUInt64LE(BigInt(len), 8)
  return s
}

export function uffdUnregister(fd: number, start: number, len: number): UffdResult {
  const ok = (c.ioctlPtr(fd, UFFDIO_UNREGISTER, range(start, len, 16)) as number) === 0
  return { ok, errno: ok ? 0 : errno(), bytes: 0 }
}

export function uffdWake(fd: number, start: number, len: number): UffdResult {
  const ok = (c.ioctlPtr(fd, UFFDIO_WAKE, range(start, len, 16)) as number) === 0
  return { ok, errno: ok ? 0 : errno(), bytes: 0 }
}

const copyArg = Buffer.alloc(40)
/** UFFDIO_COPY of `len` bytes from our memory at `src` to the faulting process at `dst`. */
export function uffdCopy(fd: number, dst: number, src: bigint, len: number, mode = 0): UffdResult {
  copyArg.writeBigUInt64LE(BigInt(dst), 0)
  copyArg.writeBigUInt64LE(src, 8)
  copyArg.writeBigUInt64LE(BigInt(len), 16)
  copyArg.writeBigUInt64LE(BigInt(mode), 24)
  copyArg.writeBigInt64LE(0n, 32)
  const ok = (c.ioctlPtr(fd, UFFDIO_COPY, copyArg) as number) === 0
  const err = ok ? 0 : errno()
  const copied = Number(copyArg.readBigInt64LE(32))
  return { ok, errno: err, bytes: copied > 0 ? copied : 0 }
}

const zeroArg = Buffer.alloc(32)
export function uffdZeropage(fd: number, start: number, len: number, mode = 0): UffdResult {
  zeroArg.writeBigUInt64LE(BigInt(start), 0)
  zeroArg.writeBigUInt64LE(BigInt(len), 8)
  zeroArg.writeBigUInt64LE(BigInt(mode), 16)
  zeroArg.writeBigInt64LE(0n, 24)
  const ok = (c.ioctlPtr(fd, UFFDIO_ZEROPAGE, zeroArg) as number) === 0
  const err = ok ? 0 : errno()
  const done = Number(zeroArg.readBigInt64LE(24))
  return { ok, errno: err, bytes: done > 0 ? done : 0 }
}


