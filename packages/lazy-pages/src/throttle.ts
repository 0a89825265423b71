// --max-push-rate: a cap on BACKGROUND push bandwidth (faults are never held back), for a page
// server on a shared link, and to keep a lazy phase long enough to watch what happens in it.

export class PushThrottle {
  private nextAt = 0

  /** `bytesPerSecond` undefined: no limit. */
  constructor(private readonly bytesPerSecond?: number) {}

  /** Milliseconds until the next background chunk may go (0: now). */
  waitMs(now = performance.now()): number {
    if (this.bytesPerSecond === undefined) return 0
    return Math.max(0, Math.ceil(this.nextAt - now))
  }

  /** A chunk of `bytes` went out: the next one waits as long as it took to "earn" these. */
  spent(bytes: number, now = performance.now()): void {
    if (this.bytesPerSecond === undefined) return
    this.nextAt = Math.max(now, this.nextAt) + (bytes * 1000) / this.bytesPerSecond
  }
}
