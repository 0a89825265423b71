// img-migrate's lazy final round (modes postcopy and hybrid) and mode auto, between two hosts
// (two network namespaces, a real sshd), with real CRIU. The copy is restored while the frozen
// original still exists: the workload is init of a pid namespace of its own (both hosts share
// this machine's). Each migration's copy verifies every page at the destination, twice (it keeps
// running); a page rewritten after the last pre-copy round arrives rewritten; the channel cut in
// the lazy phase kills the copy (fail-stop) and resumes the original intact; a workload that
// forks and unmaps every tick migrates; auto picks postcopy where a lazy final round can run, and
// without one (--encrypt) precopy for memory that changes slowly, full for memory that changes
// faster than a round moves it.
import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { raisePipeMaxSize, shell, workloadFromPid, workloadInNs, type Workload, type WorkloadMode } from '../lib/index.js'
import { migrateSetUp, runMigrate, workDirEmpty, type MigrateRun, type MigrateSetup } from '../lib/migrate.js'

const MIB = 64
const NPAGES = (MIB << 20) / 4096

async function setUp(t: Test): Promise<MigrateSetup | null> {
  const s = await migrateSetUp(t, 'h18lz')
  if (s) raisePipeMaxSize(t)
  return s
}

/** memhog in a pid namespace of its own, its log in a directory of its own (`name`) under the run's. */
async function workload(t: Test, s: MigrateSetup, mode: WorkloadMode = 'plain', name = 'w'): Promise<Workload> {
  const dir = join(s.run, name)
  mkdirSync(dir)
  return (await workloadInNs(t, dir, MIB, mode)).source
}

/** The copy runs at the destination with every page, twice; the original is gone. */
async function copyRunsIntact(t: Test, w: Workload, r: MigrateRun, s: MigrateSetup): Promise<void> {
  t.equal(r.exitCode, 0, `img-migrate succeeded: ${r.stderr}`)
  const pid = r.summary?.pid as number
  t.ok(pid > 0, 'the summary names the restored pid')
  const copy = workloadFromPid(pid, w.logPath)
  t.teardown(() => copy.kill())
  t.notOk(w.alive(), 'the original is gone')
  t.ok(copy.alive(), 'the process runs at the destination')
  t.equal(await copy.verify(), `verified ${NPAGES} ok`, 'every page intact')
  t.equal(await copy.verify(), `verified ${NPAGES} ok`, 'and it keeps running')
  workDirEmpty(t, join(s.run, 'dst-work'))
}

/** memhog (`mode`, its log under `name`) migrated with `args`, and its copy checked. */
async function migrated(t: Test, s: MigrateSetup, args: string, mode: WorkloadMode = 'plain', name = 'w'): Promise<MigrateRun> {
  const w = await workload(t, s, mode, name)
  const r = await runMigrate(s, w.pid, args)
  await copyRunsIntact(t, w, r, s)
  return r
}

t.test('postcopy: the process runs at the destination at once, its memory following over the channel', async t => {
  const s = await setUp(t)
  if (!s) return
  const r = await migrated(t, s, '--mode postcopy')
  t.match(r.summary, { mode: 'postcopy', asked: 'postcopy', rounds: [{ round: 1, final: true }] })
  t.ok((r.summary?.bytes as number) >= MIB << 20, 'every page crossed')
  const { freezeMs, downtimeMs } = r.summary as { freezeMs: number; downtimeMs: number }
  t.ok(freezeMs > 0 && downtimeMs >= freezeMs, `frozen for the non-memory state (${freezeMs} ms), running there after ${downtimeMs} ms`)
})

t.test('postcopy: the channel cut in the lazy phase kills the copy and resumes the original intact', async t => {
  const s = await setUp(t)
  if (!s) return
  const w = await workload(t, s)
  const r = await runMigrate(s, w.pid, '--mode postcopy', 'cut-channel ')
  t.not(r.exitCode, 0, 'img-migrate failed')
  t.match(r.stderr, /^img-migrate: destination: round 1 \(lazy restore\): .*restored tree was killed \(1 process\)/m, `the destination killed its copy: ${r.stderr}`)
  t.match(r.stderr, /^img-migrate: source: round 1 \(lazy\): .*the dump resumed the process/m, 'one line naming the side and the phase')
  t.ok(w.alive(), 'the source process runs on (resumed, not killed)')
  t.equal(await w.verify(), `verified ${NPAGES} ok`, 'with every page intact')
  workDirEmpty(t, join(s.run, 'dst-work'))
})

t.test('hybrid: pre-copy rounds, then a lazy final round; a page rewritten after the last round arrives rewritten', async t => {
  const s = await setUp(t)
  if (!s) return
  const w = await workload(t, s, 'churn:1')
  // After the only running round, while the destination holds it as its base: memhog rewrites
  // 1 % of its pages (a new generation: verify knows which, and what they hold now).
  const churn = `kill -USR2 $MIGRATE_PID; until grep -q "^churned" ${w.logPath}; do sleep 0.05; done`
  const r = await runMigrate(s, w.pid, `--mode hybrid --max-rounds 1 --after-round '${churn}'`)
  t.match(w.log(), /^churned \d+ gen 1$/m, 'the pages changed between the rounds')
  await copyRunsIntact(t, w, r, s)
  t.match(r.summary, { mode: 'hybrid', asked: 'hybrid', rounds: [{ round: 1, final: false }, { round: 2, final: true }], why: /round 1 moved .*the lazy final round moves what changed/ })
  const rounds = r.summary?.rounds as { bytes: number }[]
  t.ok(rounds[1]!.bytes < rounds[0]!.bytes / 10, `the lazy round sent the base's pages as references, only the rewritten ones as bytes (${rounds[1]!.bytes} of ${rounds[0]!.bytes})`)
})

t.test('hybrid: a workload that forks, unmaps, remaps and moves memory every tick, between rounds and during the lazy phase', async t => {
  const s = await setUp(t)
  if (!s) return
  const r = await migrated(t, s, '--mode hybrid --max-rounds 2', 'events')
  t.match(r.summary, { mode: 'hybrid' })
})

t.test('hybrid: a destination without room for the base leaves the source healthy and the destination clean', async t => {
  const s = await setUp(t)
  if (!s) return
  // A work dir on a tmpfs too small for round 1's 64 MiB (0700: the trust rule's, root's alone).
  const small = join(s.run, 'small')
  mkdirSync(small)
  await shell(`mount -t tmpfs -o size=16m,mode=0700 tmpfs ${small}`)
  t.teardown(() => shell(`umount ${small}`, { reject: false }))
  const w = await workload(t, s)
  const r = await runMigrate(s, w.pid, '--mode hybrid', '', small)
  t.not(r.exitCode, 0, 'img-migrate failed')
  t.match(r.stderr, /^img-migrate: destination: round 1 \(pre-copy\): .*(ENOSPC|space)/im, `the destination ran out of space: ${r.stderr}`)
  t.match(r.stderr, /^img-migrate: source: round 1 \(pre-copy\): .+$/m, 'the source says where it stopped')
  t.ok(w.alive(), 'the source process runs on')
  t.equal(await w.verify(), `verified ${NPAGES} ok`, 'with every page intact')
  workDirEmpty(t, small)
})

t.test('auto: postcopy where a lazy final round is possible; without one (--encrypt), precopy for memory that changes slowly, full for memory that changes faster than a round moves it', async t => {
  const s = await setUp(t)
  if (!s) return
  const r = await migrated(t, s, '--mode auto')
  t.match(r.summary, { mode: 'postcopy', asked: 'auto', why: /changes per second.*moves each page once/, rounds: [{ final: true }] })
  t.ok((r.summary?.dirtyPerSecond as number) < 0.5, `the memory barely changes: ${JSON.stringify(r.summary)}`)

  const key = join(s.run, 'k')
  writeFileSync(key, randomBytes(32), { mode: 0o600 })
  const slow = await workload(t, s, 'plain', 'slow')
  const r1 = await runMigrate(s, slow.pid, `--mode auto --encrypt ${key}`, '', join(s.run, 'dst-work'), `--decrypt ${key}`)
  await copyRunsIntact(t, slow, r1, s)
  t.match(r1.summary, { mode: 'precopy', asked: 'auto', why: /no lazy final round/ })

  const fast = await workload(t, s, 'churn:50', 'fast')
  // Half of its pages rewritten every 50 ms, until the original is gone.
  const churner = spawn('bash', ['-c', `while kill -USR2 ${fast.pid} 2>/dev/null; do sleep 0.05; done`], { stdio: 'ignore' })
  t.teardown(() => { churner.kill('SIGKILL') })
  const r2 = await runMigrate(s, fast.pid, `--mode auto --encrypt ${key}`, '', join(s.run, 'dst-work'), `--decrypt ${key}`)
  await copyRunsIntact(t, fast, r2, s)
  t.match(r2.summary, { mode: 'full', asked: 'auto', why: /more than the 50 % pre-copy can gain on/ })
  t.equal((r2.summary?.rounds as unknown[]).length, 1, 'no pre-copy round wasted')
})
