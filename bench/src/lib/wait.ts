// Waiting on files that other processes write (progress lines, status bytes, workload logs).
import { readFileSync } from 'node:fs'
import { waitFor } from '@criu-pipes/e2e/harness'

export function readOr(path: string, fallback = ''): string {
  try { return readFileSync(path, 'utf8') } catch { return fallback }
}

/** Waits until `path` holds a line matching `re` (5 ms polls); fails early if `dead()` says so. */
export async function waitForLine(path: string, re: RegExp, what: string,
  opts: { timeoutMs?: number; dead?: () => string | undefined } = {}): Promise<RegExpExecArray> {
  return waitFor(what, () => {
    const m = re.exec(readOr(path))
    if (m) return m
    const why = opts.dead?.()
    if (why) throw new Error(`${what}: ${why}`)
    return undefined
  }, { timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: 5, detail: () => `--- ${path} ---\n${readOr(path).slice(-800)}` })
}
