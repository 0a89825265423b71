// Whether real-CRIU tests can run here, and the tap gate for them. Locally a machine without
// CRIU (or not root) skips those tests with the reason; in CI (CI=true) a missing CRIU must
// not turn into a green run of skips, so there it is a failure.
import { execa } from 'execa'
import { criuBin } from './paths.js'

export type CriuAvailability =
  | { ok: true; bin: string; version: string }
  | { ok: false; bin: string; reason: string }

let cached: Promise<CriuAvailability> | undefined

/** Root, a runnable CRIU >= 4.0 and a passing `criu check`. Computed once per process. */
export function criuAvailable(): Promise<CriuAvailability> {
  return (cached ??= probe())
}

async function probe(): Promise<CriuAvailability> {
  const bin = criuBin()
  const no = (reason: string): CriuAvailability => ({ ok: false, bin, reason })
  if (process.getuid?.() !== 0) return no('CRIU needs root and this test process is not root')
  const v = await execa(bin, ['--version'], { reject: false, timeout: 10_000 })
  if (v.failed) {
    const why = v.code === 'ENOENT' ? 'not installed' : v.shortMessage
    return no(`cannot run ${bin} (${why}); run scripts/install-criu.sh or set CRIU=/path/to/criu`)
  }
  const version = /Version:\s*(\S+)/.exec(v.stdout)?.[1] ?? 'unknown'
  if (!(Number(version.split('.')[0]) >= 4)) return no(`${bin} is CRIU ${version}, the tests need >= 4.0`)
  const c = await execa(bin, ['check'], { reject: false, timeout: 30_000, all: true })
  if (c.failed) {
    const last = String(c.all ?? '').trim().split('\n').filter((l) => /Error|fail/i.test(l)).slice(-1)[0]
    return no(`'${bin} check' failed (exit ${c.exitCode}): ${last ?? c.shortMessage}`)
  }
  return { ok: true, bin, version }
}

/** The part of a tap Test needCriu uses. */
export interface GateHost {
  plan(n: number, comment?: string): void
  fail(message: string): unknown
}

/**
 * Call first thing in a real-CRIU test: `if (!(await needCriu(t))) return`.
 * Without CRIU the test is skipped with the reason (t.plan(0, reason)); with CI=true it
 * fails with the reason instead.
 */
export async function needCriu(t: GateHost): Promise<boolean> {
  const a = await criuAvailable()
  if (a.ok) return true
  if (process.env.CI === 'true') t.fail(`CRIU is required in CI: ${a.reason}`)
  else t.plan(0, `no usable CRIU: ${a.reason}`)
  return false
}

/**
 * The --page-server-proto of uffd-serve and page-feed that talks to this CRIU's page server:
 * 4.2 widened struct page_server_iov (24 -> 32 bytes), and 4.3 kept 4.2's (checked against the
 * real 4.3 in test/e2e/lazy.test.ts). Nothing on the wire tells them apart.
 */
export async function pageServerProto(): Promise<'4.1' | '4.2'> {
  return (await criuAtLeast('4.2')) ? '4.2' : '4.1'
}

/** Whether the usable CRIU is at least release `min` (e.g. '4.2'); false when there is none. */
export async function criuAtLeast(min: string): Promise<boolean> {
  const a = await criuAvailable()
  if (!a.ok) return false
  const have = a.version.split('.').map(Number)
  const want = min.split('.').map(Number)
  for (let i = 0; i < want.length; i++) {
    const h = have[i] ?? 0, w = want[i]!
    if (h !== w) return h > w
  }
  return true
}

/**
 * needCriu, and a CRIU of at least release `min`: an older one skips the test with `why` (also
 * in CI, where the tests run on the newest CRIU and again on 4.1.1: test/e2e/criu-4.1.1.test.ts).
 */
export async function needCriuAtLeast(t: GateHost, min: string, why: string): Promise<boolean> {
  if (!(await needCriu(t))) return false
  if (await criuAtLeast(min)) return true
  const a = await criuAvailable()
  t.plan(0, `CRIU ${a.ok ? a.version : '?'} ${why} (needs >= ${min})`)
  return false
}
