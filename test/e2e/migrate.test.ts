// img-migrate between two hosts (two network namespaces, a real sshd: test/lib/two-hosts.ts),
// with real CRIU: one ssh session is the whole channel. Each mode migrates memhog, which then
// verifies every page at the destination, twice (it keeps running); a page rewritten after the
// last pre-copy round arrives rewritten; a channel cut during pre-copy, or during the final
// round before the destination has the image, leaves the source running with intact memory and
// nothing in the destination's work dir.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  reserveHugePages, startWorkload, workloadFromPid, type Workload, type WorkloadOptions,
} from '../lib/index.js'
import { migrateSetUp, runMigrate, workDirEmpty as workDirEmptyIn, type MigrateRun, type MigrateSetup } from '../lib/migrate.js'

const MIB = 64
const NPAGES = (MIB << 20) / 4096
/** hugehog's huge pages (2 MiB each), and how many to reserve: the dumped workload's and a copy's, with room to spare. */
const NHUGE = 2
const HUGE_PAGES_NEEDED = 4 * NHUGE + 2

type Run = MigrateRun
const setUp = (t: Test): Promise<MigrateSetup | null> => migrateSetUp(t, 'h18mg')
const migrate = runMigrate
const workDirEmpty = (t: Test, run: string): void => workDirEmptyIn(t, join(run, 'dst-work'))

async function workload(t: Test, run: string, opts: Partial<WorkloadOptions> = {}): Promise<Workload> {
  const w = await startWorkload({ mib: MIB, dir: run, ...opts })
  t.teardown(() => w.kill())
  await w.waitReady()
  return w
}

/** A failed migration: one line from the source naming the phase, the process still here with every page, nothing left at the destination. */
async function sourceSurvives(t: Test, w: Workload, r: Run, run: string, line: RegExp, pages = NPAGES): Promise<void> {
  t.not(r.exitCode, 0, 'img-migrate failed')
  t.match(r.stderr, line, `one line naming the side and the phase: ${r.stderr}`)
  t.ok(w.alive(), 'the source process runs on (resumed, not killed)')
  t.equal(await w.verify(), `verified ${pages} ok`, 'with every page intact')
  workDirEmpty(t, run)
}

async function copyRunsIntact(t: Test, w: Workload, r: Run): Promise<void> {
  t.equal(r.exitCode, 0, `img-migrate succeeded: ${r.stderr}`)
  await w.exited
  const copy = workloadFromPid(w.pid, w.logPath)
  t.teardown(() => copy.kill())
  t.ok(copy.alive(), 'the process runs at the destination')
  t.equal(await copy.verify(), `verified ${NPAGES} ok`, 'every page intact')
  t.equal(await copy.verify(), `verified ${NPAGES} ok`, 'and it keeps running')
  t.equal(r.summary?.pid, w.pid, 'the summary names the restored pid')
}

t.test('full: one streamed checkpoint over ssh, restored at the destination', async t => {
  const s = await setUp(t)
  if (!s) return
  const w = await workload(t, s.run)
  const r = await migrate(s, w.pid, '--mode full')
  await copyRunsIntact(t, w, r)
  t.match(r.summary, { mode: 'full', rounds: [{ round: 1, final: true }] })
  t.ok((r.summary?.bytes as number) > MIB << 20, 'the whole image crossed')
  workDirEmpty(t, s.run)
})

t.test('precopy: a page rewritten after the last pre-copy round arrives rewritten', async t => {
  const s = await setUp(t)
  if (!s) return
  const w = await workload(t, s.run, { mode: 'churn:1' })
  // After the only running round, while the destination holds it as its base: memhog rewrites
  // 1 % of its pages (a new generation: verify knows which, and what they hold now).
  const churn = `kill -USR2 $MIGRATE_PID; until grep -q "^churned" ${w.logPath}; do sleep 0.05; done`
  const r = await migrate(s, w.pid, `--mode precopy --max-rounds 1 --after-round '${churn}'`)
  t.match(w.log(), /^churned \d+ gen 1$/m, 'the pages changed between the rounds')
  await copyRunsIntact(t, w, r)
  const rounds = r.summary?.rounds as { bytes: number; final: boolean }[]
  t.equal(rounds.length, 2, 'one running round, then the final one')
  t.ok(rounds[1]!.final && rounds[1]!.bytes < rounds[0]!.bytes / 10, `the final round sent only what changed (${rounds[1]!.bytes} of ${rounds[0]!.bytes})`)
  t.match(r.summary?.why, /--max-rounds 1 reached/)
  workDirEmpty(t, s.run)
})

t.test('precopy: the channel cut during a running round leaves the source healthy and the destination clean', async t => {
  const s = await setUp(t)
  if (!s) return
  const w = await workload(t, s.run)
  const r = await migrate(s, w.pid, '--mode precopy', 'cut-channel ')
  t.match(r.stderr, /^img-migrate: destination: round 1 \(pre-copy\): .*truncated/m, 'the destination saw the stream end early')
  await sourceSurvives(t, w, r, s.run, /^img-migrate: source: round 1 \(pre-copy\): .+$/m)
})

t.test('full: a failure before the destination has the image resumes the source', async t => {
  const s = await setUp(t)
  if (!s) return
  const w = await workload(t, s.run)
  // The final (freezing) dump this time: without the destination's receipt its hook fails the
  // dump, and CRIU resumes the process instead of killing it.
  const r = await migrate(s, w.pid, '--mode full', 'cut-channel ')
  await sourceSurvives(t, w, r, s.run, /^img-migrate: source: round 1 \(final\): .+$/m)
})

t.test('full: an image the destination refuses once it has read it all (private hugetlb) resumes the source', async t => {
  const s = await setUp(t)
  if (!s) return
  const why = reserveHugePages(t, HUGE_PAGES_NEEDED)
  if (why !== undefined) return t.pass('skipped', { skip: why })
  const w = await workload(t, s.run, { program: 'hugehog', mib: NHUGE, mode: 'private' })
  // img-buffer's serve refuses private MAP_HUGETLB pages after the drain, before its socket
  // exists: the last moment the destination can say no. Its receipt must not come before that.
  const r = await migrate(s, w.pid, '--mode full')
  await sourceSurvives(t, w, r, s.run, /^img-migrate: source: round 1 \(final\): destination: round 1 \(final\): .*hugetlb/im, NHUGE * 512 + 1)
})

/** A 32-byte key, 0600, in the run's private directory (both hosts share the file system). */
function keyFile(run: string, name: string): string {
  const path = join(run, name)
  writeFileSync(path, randomBytes(32), { mode: 0o600 })
  return path
}

t.test('precopy --encrypt: control messages authenticated, each round\'s image bound to its ROUND; restored intact', async t => {
  const s = await setUp(t)
  if (!s) return
  const w = await workload(t, s.run, { mode: 'churn:1' })
  const key = keyFile(s.run, 'k')
  const churn = `kill -USR2 $MIGRATE_PID; until grep -q "^churned" ${w.logPath}; do sleep 0.05; done`
  const r = await migrate(s, w.pid, `--mode precopy --max-rounds 1 --encrypt ${key} --after-round '${churn}'`, '', join(s.run, 'dst-work'), `--decrypt ${key}`)
  await copyRunsIntact(t, w, r)
  t.equal((r.summary?.rounds as unknown[]).length, 2, 'a running round, then the final one')
  workDirEmpty(t, s.run)
})

t.test('keys that disagree: refused at the hello, in one line, the source untouched', async t => {
  const s = await setUp(t)
  if (!s) return
  const w = await workload(t, s.run)
  const key = keyFile(s.run, 'k')
  let r = await migrate(s, w.pid, `--mode full --encrypt ${key}`)
  await sourceSurvives(t, w, r, s.run, /^img-migrate: source: hello: destination: hello: the source sends keyed: run this side with --decrypt KEYFILE$/m)
  r = await migrate(s, w.pid, '--mode full', '', join(s.run, 'dst-work'), `--decrypt ${key}`)
  await sourceSurvives(t, w, r, s.run, /^img-migrate: source: hello: destination: hello: the source sends without a key: run it with --encrypt KEYFILE/m)
  r = await migrate(s, w.pid, `--mode full --encrypt ${key}`, '', join(s.run, 'dst-work'), `--decrypt ${keyFile(s.run, 'other')}`)
  await sourceSurvives(t, w, r, s.run, /^img-migrate: source: hello: migration channel: message 0 from the destination \(hello\) fails its tag/m)
})

t.test('a -W too long for CRIU\'s sockets is refused at the hello, in one line, the source untouched', async t => {
  const s = await setUp(t)
  if (!s) return
  const w = await workload(t, s.run)
  const long = join(s.run, 'w'.repeat(80))
  const r = await migrate(s, w.pid, '--mode full', '', long)
  await sourceSurvives(t, w, r, s.run, /^img-migrate: source: hello: destination: hello: -W \S+: too long for CRIU's sockets \(.* is \d+ bytes, at most 107\): use a shorter work dir$/m)
  workDirEmptyIn(t, long)
})
