// Frames waiting for room on a non-blocking channel, written as far as it takes them: the one
// write loop of both ends of the page stream (page-feed's pages, uffd-serve's requests).
import { EPIPE, SysError, setNonBlocking, writeAll, writeSome } from '@criu-pipes/sys'

const ECONNRESET = 104

export class WriteQueue {
  private readonly queue: Buffer[] = []
  private off = 0

  /** `broken(code)` makes the error thrown when the far end is gone (EPIPE, ECONNRESET). */
  constructor(private readonly fd: number, private readonly broken: (code: string) => Error) {}

  get pending(): boolean {
    return this.queue.length > 0
  }

  push(...bufs: Buffer[]): void {
    this.queue.push(...bufs)
  }

  /** Writes until the channel is full (returns) or the queue is empty. */
  flush(): void {
    while (this.queue.length > 0) {
      const b = this.queue[0]!
      let n: number
      try {
        n = writeSome(this.fd, b, this.off)
      } catch (e) {
        if (e instanceof SysError && (e.errno === EPIPE || e.errno === ECONNRESET)) throw this.broken(e.code)
        throw e
      }
      if (n < 0) return
      this.off += n
      if (this.off === b.length) { this.queue.shift(); this.off = 0 }
    }
  }

  /** Writes everything queued, waiting for room: for the last frames of a session. */
  drain(): void {
    setNonBlocking(this.fd, false)
    const first = this.off
    this.queue.splice(0).forEach((b, i) => writeAll(this.fd, b, i === 0 ? first : 0))
    this.off = 0
  }
}
