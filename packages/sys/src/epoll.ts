// epoll(7), for what poll(2) cannot say. Edge-triggered on a pipe's write end, it reports the
// wake-up a reader gives the writers when it finishes a read that began on a full pipe, after it
// has released the pipe's mutex; poll(2) reports POLLOUT as soon as one slot is free, while the
// reader is still copying out under that mutex.
import { c, errno } from './libc.js'
import { EINTR, O_CLOEXEC } from './constants.js'
import { SysError, check } from './errors.js'

export const EPOLLIN = 0x001
export const EPOLLOUT = 0x004
export const EPOLLERR = 0x008
export const EPOLLHUP = 0x010
export const EPOLLET = 0x80000000

const EPOLL_CTL_ADD = 1
const EPOLL_CTL_DEL = 2
// struct epoll_event { u32 events; u64 data; } is packed on x86_64 (12 bytes), 16 bytes on arm64.
const EVENT_SIZE = process.arch === 'x64' ? 12 : 16
const DATA_OFF = process.arch === 'x64' ? 4 : 8

export interface EpollEvent { fd: number; events: number }

/** A new close-on-exec epoll instance. */
export function epollCreate(): number {
  return check(c.epoll_create1(O_CLOEXEC) as number, 'epoll_create1')
}

/** Watches `fd` for `events` (EPOLLET for edge-triggered); events come back with this fd. */
export function epollAdd(epfd: number, fd: number, events: number): void {
  const ev = Buffer.alloc(EVENT_SIZE)
  ev.writeUInt32LE(events >>> 0, 0)
  ev.writeBigUInt64LE(BigInt(fd), DATA_OFF)
  check(c.epoll_ctl(epfd, EPOLL_CTL_ADD, fd, ev) as number, 'epoll_ctl(ADD)', `fd ${fd}`)
}

/** Stops watching `fd` (do it before closing an fd that may have been dup'ed elsewhere). */
export function epollDel(epfd: number, fd: number): void {
  check(c.epoll_ctl(epfd, EPOLL_CTL_DEL, fd, null) as number, 'epoll_ctl(DEL)', `fd ${fd}`)
}

/** Waits for events (`timeoutMs` -1: forever, 0: only what is ready now); retries on EINTR. */
export function epollWait(epfd: number, maxEvents = 64, timeoutMs = -1): EpollEvent[] {
  const buf = Buffer.alloc(EVENT_SIZE * maxEvents)
  let n: number
  for (;;) {
    n = c.epoll_wait(epfd, buf, maxEvents, timeoutMs) as number
    if (n >= 0) break
    const err = errno()
    if (err !== EINTR) throw new SysError('epoll_wait', err)
  }
  const out: EpollEvent[] = []
  for (let i = 0; i < n; i++) {
    out.push({ events: buf.readUInt32LE(i * EVENT_SIZE), fd: Number(buf.readBigUInt64LE(i * EVENT_SIZE + DATA_OFF)) })
  }
  return out
}
