// Passing one fd over a UNIX stream socket with SCM_RIGHTS, the way CRIU does it: one payload byte
// (0x00) and one control message holding one fd. A receiver that asked for it (see passSender)
// also learns who sent that byte: SCM_PIDFD, the kernel's pidfd of that process (Linux >= 6.5),
// or SCM_CREDENTIALS, its pid (a number, which the process may have left by the time it is read).
// x86_64 layouts:
//   struct msghdr  { void *name@0; u32 namelen@8; iovec *iov@16; size_t iovlen@24;
//                    void *control@32; size_t controllen@40; int flags@48 }   (56 bytes)
//   struct cmsghdr { size_t len@0; int level@8; int type@12; } + data@16      (CMSG_SPACE(4) = 24)
//   struct ucred   { pid_t pid@0; uid_t uid@4; gid_t gid@8; }                 (CMSG_SPACE(12) = 32)
import { c, errno, address } from './libc.js'
import { EAGAIN, EINTR } from './constants.js'
import { SysError } from './errors.js'
import { waitReadable, waitWritable } from './poll.js'

const SOL_SOCKET = 1
const SCM_RIGHTS = 1
const SCM_CREDENTIALS = 2
const SCM_PIDFD = 4
const MSG_CTRUNC = 0x8
const MSG_CMSG_CLOEXEC = 0x40000000
const MSGHDR_SIZE = 56
const CMSG_HDR = 16
const CMSG_SPACE_ONE_FD = 24
const CMSG_LEN_ONE_FD = 20
const CMSG_SPACE_UCRED = 32
/** Room for what a receive may carry: SCM_RIGHTS with one fd, SCM_PIDFD, SCM_CREDENTIALS. */
const CMSG_SPACE_RECV = 2 * CMSG_SPACE_ONE_FD + CMSG_SPACE_UCRED
/** CMSG_ALIGN: control messages start at multiples of sizeof(size_t). */
const cmsgAlign = (n: number): number => (n + 7) & ~7

function msghdr(payload: Buffer, control: Buffer, iov: Buffer): Buffer {
  iov.writeBigUInt64LE(address(payload), 0)
  iov.writeBigUInt64LE(BigInt(payload.length), 8)
  const msg = Buffer.alloc(MSGHDR_SIZE)
  msg.writeBigUInt64LE(address(iov), 16)
  msg.writeBigUInt64LE(1n, 24)
  msg.writeBigUInt64LE(address(control), 32)
  msg.writeBigUInt64LE(BigInt(control.length), 40)
  return msg
}

/** Sends one byte (0x00 unless told) with `fd` attached. */
export function sendFd(sock: number, fd: number, byte = 0): void {
  const payload = Buffer.from([byte])
  const control = Buffer.alloc(CMSG_SPACE_ONE_FD)
  control.writeBigUInt64LE(BigInt(CMSG_LEN_ONE_FD), 0)
  control.writeInt32LE(SOL_SOCKET, 8)
  control.writeInt32LE(SCM_RIGHTS, 12)
  control.writeInt32LE(fd, CMSG_HDR)
  const iov = Buffer.alloc(16)
  const msg = msghdr(payload, control, iov)
  for (;;) {
    const n = Number(c.sendmsg(sock, msg, 0))
    if (n === 1) return
    const err = errno()
    if (n < 0 && err === EAGAIN) { waitWritable(sock); continue }
    if (n < 0 && err === EINTR) continue
    throw new SysError('sendmsg', n < 0 ? err : 0, 'SCM_RIGHTS')
  }
}

export interface ReceivedFd {
  /** The fd received, or null when the byte came without one. */
  fd: number | null
  /** The payload byte, or null at EOF (then fd is null too). */
  byte: number | null
  /**
   * A pidfd of the process that sent the byte (SCM_PIDFD), when the socket passes them (see
   * passSender); the caller owns it. It names that process even if it has exited since.
   */
  sender: number | null
  /** The sender's pid as SCM_CREDENTIALS gives it (a socket that passes credentials), or null. */
  senderPid: number | null
}

/**
 * Receives exactly one byte and the fd riding on it. It never reads further: the next bytes in the
 * stream belong to the next message. The fd is made close-on-exec.
 */
export function recvFd(sock: number): ReceivedFd {
  const payload = Buffer.alloc(1)
  const control = Buffer.alloc(CMSG_SPACE_RECV)
  const iov = Buffer.alloc(16)
  const msg = msghdr(payload, control, iov)
  let n: number
  for (;;) {
    n = Number(c.recvmsg(sock, msg, MSG_CMSG_CLOEXEC))
    if (n >= 0) break
    const err = errno()
    if (err === EAGAIN) { waitReadable(sock); continue }
    if (err !== EINTR) throw new SysError('recvmsg', err)
  }
  if (n === 0) return { fd: null, byte: null, sender: null, senderPid: null }
  const controlLen = Number(msg.readBigUInt64LE(40))
  const flags = msg.readInt32LE(48)
  let fd: number | null = null
  let sender: number | null = null
  let senderPid: number | null = null
  for (let off = 0; off + CMSG_HDR <= controlLen;) {
    const len = Number(control.readBigUInt64LE(off))
    if (len < CMSG_HDR || off + len > controlLen) break
    if (control.readInt32LE(off + 8) === SOL_SOCKET) {
      const type = control.readInt32LE(off + 12)
      if (type === SCM_RIGHTS && len === CMSG_LEN_ONE_FD) fd = control.readInt32LE(off + CMSG_HDR)
      else if (type === SCM_PIDFD && len === CMSG_LEN_ONE_FD) sender = control.readInt32LE(off + CMSG_HDR)
      else if (type === SCM_CREDENTIALS) senderPid = control.readInt32LE(off + CMSG_HDR)
    }
    off += cmsgAlign(len)
  }
  if (flags & MSG_CTRUNC) {
    for (const f of [fd, sender]) if (f !== null) c.close(f)
    throw new Error('recvmsg: control message truncated (more than one fd sent)')
  }
  return { fd, byte: payload[0]!, sender, senderPid: senderPid !== null && senderPid > 0 ? senderPid : null }
}
