// Polling: the things e2e tests wait for (a log line, a pidfile, a pid going away) have no
// event to subscribe to, so we poll at a short interval with a deadline.
import { setTimeout as sleep } from 'node:timers/promises'

export { sleep }

export interface WaitOptions {
  /** give up after this many ms (default 30 000) */
  timeoutMs?: number
  /** poll interval in ms (default 20) */
  intervalMs?: number
}

/**
 * Calls `probe` until it returns something other than undefined, and returns that.
 * A probe that throws ends the wait with its error. On timeout, rejects with
 * "timed out after N ms waiting for <what>" (plus `detail()` if given, e.g. a log tail).
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  opts: WaitOptions & { detail?: () => string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) {
      const extra = opts.detail ? `\n${opts.detail()}` : ''
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${extra}`)
    }
    await sleep(opts.intervalMs ?? 20)
  }
}
