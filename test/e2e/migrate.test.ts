// img-migrate between two hosts (two network namespaces, a real sshd: test/lib/two-hosts.ts),
// with real CRIU: one ssh session is the whole channel. Each mode migrates memhog, which then
// verifies every page at the destination, twice (it keeps running); a page rewritten after the
// last pre-copy round arrives rewritten; a channel cut during pre-copy, or during the final
// round before the destination has the image, leaves the source running with intact memory and
// nothing in the destination's work dir.
import t, { type Test } from 'tap'
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  criuBin, needCriu, repoRoot, reserveHugePages, shell, startWorkload, tmpDir, twoHostsUp, workloadFromPid, type TwoHosts, type Workload, type WorkloadOptions,
} from '../lib/index.js'

const MIB = 64
const NPAGES = (MIB << 20) / 4096
/** hugehog's huge pages (2 MiB each), and how many to reserve: the dumped workload's and a copy's, with room to spare. */
const NHUGE = 2
const HUGE_PAGES_NEEDED = 4 * NHUGE + 2
const IMG_MIGRATE = join(repoRoot(), 'packages', 'img-migrate', 'bin', 'img-migrate.js')
/** Cuts the channel towards the destination after this many bytes: inside the first round's 64 MiB. */
const CUT_AFTER = 20 << 20
/**
 * The cutter: ssh reads what dd passes on, and dd alone holds the channel's read end (a
 * `dd | ssh` pipeline would not do: the shell running it keeps its stdin open, unread, and the
 * source's writes would block instead of failing). Not head -c: it holds small reads back in
 * its stdio buffer, the hello among them.
 */
const CUTTER = `#!/bin/bash\nexec "$@" < <(dd bs=64K iflag=count_bytes count=${CUT_AFTER} status=none)\n`

interface Run { exitCode: number; stderr: string; summary: Record<string, unknown> | null }

async function setUp(t: Test): Promise<{ run: string; hosts: TwoHosts; bindir: string } | null> {
  if (!(await needCriu(t))) return null
  if (process.getuid?.() !== 0) { t.plan(0, 'needs root (network namespaces)'); return null }
  const run = tmpDir(t)
  const bindir = join(run, 'bin')
  mkdirSync(bindir)
  symlinkSync(IMG_MIGRATE, join(bindir, 'img-migrate'))
  symlinkSync(criuBin(), join(bindir, 'criu'))
  writeFileSync(join(bindir, 'cut-channel'), CUTTER, { mode: 0o755 })
  const hosts = await twoHostsUp(t, { path: bindir, prefix: 'h18mg' })
  return { run, hosts, bindir }
}

/**
 * img-migrate beside the workload (CRIU dumps a task of its own network namespace), its channel
 * ssh from the source host; `via` goes in front of that ssh (a channel cutter).
 */
async function migrate(s: { run: string; hosts: TwoHosts; bindir: string }, pid: number, args: string, via = ''): Promise<Run> {
  const to = `${via}${s.hosts.sshDst} img-migrate --receive -W ${join(s.run, 'dst-work')}`
  const r = await shell(`PATH=${s.bindir}:$PATH img-migrate -t ${pid} --to '${to}' ${args} -p 3 3>${join(s.run, 'summary.json')}`,
    { reject: false, timeout: 240_000 })
  let summary: Record<string, unknown> | null = null
  try { summary = JSON.parse(readFileSync(join(s.run, 'summary.json'), 'utf8')) as Record<string, unknown> } catch { /* none on failure */ }
  return { exitCode: r.exitCode ?? -1, stderr: String(r.stderr), summary }
}

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

function workDirEmpty(t: Test, run: string): void {
  let left: string[] = []
  try { left = readdirSync(join(run, 'dst-work')) } catch { /* never created: empty too */ }
  t.same(left, [], 'the destination\'s work dir holds nothing')
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
