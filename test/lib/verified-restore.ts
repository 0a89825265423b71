// The check every streaming e2e test ends with: restore, see the workload run, have it verify
// every page twice (memory intact, and it keeps running), then stop it.
import type { Test } from 'tap'
import { startRestore } from './restore.js'
import { workloadFromPid } from './workload.js'

export async function restoredAndVerified(t: Test, args: string[], logPath: string, expected: string): Promise<void> {
  const r = await startRestore(args)
  t.teardown(() => r.kill())
  const rw = workloadFromPid(r.pid, logPath)
  t.ok(rw.alive(), 'the restored workload runs')
  t.equal(await rw.verify(), expected, 'memory intact after restore')
  t.equal(await rw.verify(), expected, 'and it keeps running')
  await r.kill()
}
