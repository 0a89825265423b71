import { c, errno } from './libc.js'
import { EINTR, POLLIN, POLLOUT } from './constants.js'
import { SysError } from './errors.js'

export interface PollRequest { fd: number; events: number }

// struct pollfd { int fd; short events; short revents; } = 8 bytes.
const POLLFD_SIZE = 8

/**
 * poll(2) over a list of fds. Returns the revents of each entry, in order, and retries on EINTR.
 * `timeoutMs` -1 waits forever.
 */
export function poll(reqs: readonly PollRequest[], timeoutMs = -1): number[] {
  const buf = Buffer.alloc(POLLFD_SIZE * reqs.length)
  reqs.forEach((r, i) => { buf.writeInt32LE(r.fd, i * POLLFD_SIZE); buf.writeInt16LE(r.events, i * POLLFD_SIZE + 4) })
  for (;;) {
    const n = c.poll(buf, reqs.length, timeoutMs) as number
    if (n >= 0) break
    const err = errno()
    if (err !== EINTR) throw new SysError('poll', err)
  }
  return reqs.map((_, i) => buf.readUInt16LE(i * POLLFD_SIZE + 6))
}

/** Blocks until one fd is ready for `events` (or has hung up/failed, which the next call reports). */
export function waitFd(fd: number, events: number, timeoutMs = -1): number {
  return poll([{ fd, events }], timeoutMs)[0] ?? 0
}

export const waitReadable = (fd: number, timeoutMs = -1): number => waitFd(fd, POLLIN, timeoutMs)
export const waitWritable = (fd: number, timeoutMs = -1): number => waitFd(fd, POLLOUT, timeoutMs)

/**
 * poll(2) without blocking the event loop: the call runs on a libuv thread, so signal handlers
 * (and timers) run meanwhile. For the long waits of a server before its one client arrives,
 * where an operator's Ctrl-C must still clean up. Node joins its threads at exit, so whoever
 * exits while this waits must first make one of the fds readable (ServerSocket has a wake-up
 * pipe for that). Returns the revents, like poll().
 */
export function pollAsync(reqs: readonly PollRequest[], timeoutMs = -1): Promise<number[]> {
  const buf = Buffer.alloc(POLLFD_SIZE * reqs.length)
  reqs.forEach((r, i) => { buf.writeInt32LE(r.fd, i * POLLFD_SIZE); buf.writeInt16LE(r.events, i * POLLFD_SIZE + 4) })
  return new Promise((resolve, reject) => {
    const once = (): void => {
      c.poll.async(buf, reqs.length, timeoutMs, (err: unknown, n: number) => {
        if (err) return reject(err)
        if (n >= 0) return resolve(reqs.map((_, i) => buf.readUInt16LE(i * POLLFD_SIZE + 6)))
        const e = errno()
        if (e === EINTR) return once()
        reject(new SysError('poll', e))
      })
    }
    once()
  })
}
