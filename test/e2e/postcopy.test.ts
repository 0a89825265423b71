// Post-copy migration over ONE bidirectional channel, against real CRIU: page-feed starts `criu
// dump --lazy-pages` itself, its page server on a socketpair (no port), and once the images are
// written starts uffd-serve --pages-fds 0,1 on a plain pipe pair (--via-cmd); the test then runs
// `criu restore --lazy-pages`. The ssh form between two network namespaces is in
// postcopy-ssh.test.ts. Also: faults served while the push still runs, the events workload, the
// channel cut mid-transfer (fail-stop by default, which kills the restored tree and no look-alike
// of it; CRIU's zero-page behaviour on request), and page-feed killed outright (the dump resumes
// the source).
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import t, { type Test } from 'tap'
import {
  PAGE_FEED, UFFD_SERVE, allDelivered, buildWorkload, childrenOf, criuBin, killGroup, needCriu, onlyChild, pidAlive, procStat,
  raisePipeMaxSize, rootSummary, sleep, startRestore, tmpDir, waitFor, workloadFromPid, workloadInNs, type NamespacedWorkload,
} from '../lib/index.js'

const MIB = 128
const NPAGES = (MIB << 20) / 4096
/** MiB/s of push for the tests that need a long lazy phase: 128 MiB take ~8 s. */
const SLOW_PUSH_MIB_S = 16

/** The stream summary uffd-serve logged: pages pushed, pages sent in answer to requests. */
function streamCounts(logPath: string): { pushed: number; answered: number; requests: number } | undefined {
  const m = /(\d+) pages pushed, (\d+) pages sent for (\d+) fault requests/.exec(readFileSync(logPath, 'utf8'))
  return m ? { pushed: Number(m[1]), answered: Number(m[2]), requests: Number(m[3]) } : undefined
}

interface Setup {
  dir: string
  images: string
  work: string
  src: NamespacedWorkload
  feedLog: string
}

async function setup(t: Test, mode: 'plain' | 'events' | 'random' = 'plain'): Promise<Setup> {
  raisePipeMaxSize(t)
  const dir = tmpDir(t)
  const images = join(dir, 'images')
  const work = join(dir, 'work')
  mkdirSync(images)
  mkdirSync(work)
  const src = await workloadInNs(t, dir, MIB, mode)
  return { dir, images, work, src, feedLog: join(dir, 'feed.log') }
}

interface Migration {
  feed: ReturnType<typeof execa>
  /** uffd-serve's log, stderr and exit code (a file the channel's shell writes once it exits) */
  uffdLog: string
  uffdErr: string
  uffdRc: string
  /** the restore, started once uffd-serve listens */
  restore: Awaited<ReturnType<typeof startRestore>>
  /** the dump page-feed started (host pid) */
  dumpPid: number
}

/**
 * page-feed -- criu dump, its channel `uffd-serve --pages-fds 0,1` (with `cat` relays on both
 * sides when `relays`), then the restore.
 */
async function migrate(t: Test, s: Setup, { feed = [] as string[], uffd = [] as string[], relays = false } = {}): Promise<Migration> {
  const uffdErr = join(s.dir, 'uffd.err')
  const uffdRc = join(s.dir, 'uffd.rc')
  const ready = join(s.work, 'ready')
  const daemon = `{ node ${UFFD_SERVE} lazy-pages -D ${s.images} -W ${s.work} -o lazy-pages.log -v4 --pages-fds 0,1 ` +
    `--status-fd 3 ${uffd.join(' ')} 3>${ready} 2>${uffdErr}; echo $? >${uffdRc}; }`
  // With relays, the shell's own stderr (its "Killed" notes) goes to a file.
  const via = relays ? `exec 2>>${s.dir}/channel.err; cat | ${daemon} | cat` : daemon
  const child = execa(process.execPath, [PAGE_FEED, '-D', s.images, '-o', s.feedLog, '-v4', ...feed, '--via-cmd', via, '--',
    criuBin(), 'dump', '-t', String(s.src.source.pid), '-D', s.images, '-o', 'dump.log', '-v4', '--lazy-pages'],
  { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe', reject: false, timeout: 300_000 })
  t.teardown(() => { child.kill('SIGKILL') })
  const dumpPid = await waitFor('page-feed to start the dump', () =>
    Number(/\(pid (\d+), page server on a socketpair/.exec(existsSync(s.feedLog) ? readFileSync(s.feedLog, 'utf8') : '')?.[1]) || undefined,
  { timeoutMs: 60_000 })
  t.teardown(() => { try { process.kill(dumpPid, 'SIGKILL') } catch { /* gone */ } })
  await waitFor('uffd-serve to listen', () => (existsSync(ready) && statSync(ready).size > 0 ? true : undefined), { timeoutMs: 60_000 })
  const restore = await startRestore(['-D', s.images, '-W', s.work, '--lazy-pages'])
  t.teardown(() => restore.kill())
  return { feed: child, uffdLog: join(s.work, 'lazy-pages.log'), uffdErr, uffdRc, restore, dumpPid }
}

/** uffd-serve's exit code and stderr, once the channel's shell has written them. */
async function uffdExit(m: Migration): Promise<{ code: number; stderr: string }> {
  const code = await waitFor('uffd-serve to exit', () => (existsSync(m.uffdRc) && readFileSync(m.uffdRc, 'utf8').endsWith('\n')
    ? Number(readFileSync(m.uffdRc, 'utf8')) : undefined), { timeoutMs: 120_000 })
  return { code, stderr: readFileSync(m.uffdErr, 'utf8') }
}

/** The migration finished in order: page-feed exited 0 (so did the dump), the source is gone, the copy runs intact. */
async function migrated(t: Test, s: Setup, m: Migration): Promise<void> {
  const fed = await m.feed
  t.equal(fed.exitCode, 0, `page-feed exits 0: the dump exited 0 after PS_IOV_CLOSE ${String(fed.stderr)}`)
  t.match(readFileSync(s.feedLog, 'utf8'), /page-feed done: \d+ pages pushed, \d+ sent for \d+ requests .*PS_IOV_CLOSE answered 0/)
  await s.src.ns
  await waitFor('the source to be gone', () => (procStat(s.src.source.pid) === undefined ? true : undefined))
  t.pass('the source is gone')
  const restored = workloadFromPid(m.restore.pid, s.src.source.logPath)
  t.equal(await restored.verify(), `verified ${NPAGES} ok`, 'the copy runs with intact memory')
  await sleep(300)
  t.ok(restored.alive(), 'and keeps running')
  t.equal(await restored.verify(), `verified ${NPAGES} ok`, 'verified again')
  await m.restore.kill()
  await restored.exited
}

t.test('post-copy through page-feed over a pipe pair', async (t) => {
  if (!(await needCriu(t))) return
  const s = await setup(t)
  const m = await migrate(t, s)
  const { code, stderr } = await uffdExit(m)
  t.equal(code, 0, `uffd-serve exits 0 ${stderr}`)
  const root = rootSummary(m.uffdLog)
  t.ok(allDelivered(root, NPAGES) && root?.skipped === 0, `every page came through the stream: ${JSON.stringify(root)}`)
  t.match(readFileSync(join(s.images, 'dump.log'), 'utf8'), /Reusing ps socket 3/, 'the dump served on the socketpair')
  await migrated(t, s, m)
})

t.test('faults are served while the push still runs: some pages are requested, not pushed', async (t) => {
  if (!(await needCriu(t))) return
  const s = await setup(t, 'random')
  const m = await migrate(t, s, { feed: ['--max-rate', String(SLOW_PUSH_MIB_S)] })
  // The workload checks 256 random pages every 100 ms from its first tick; let it run on its own
  // for a while (the push needs ~8 s), then check all of it.
  const restored = workloadFromPid(m.restore.pid, s.src.source.logPath)
  await sleep(2000)
  t.ok(restored.alive(), 'the copy runs while its pages are still coming')
  t.equal(await restored.verify(), `verified ${NPAGES} ok`, 'memory intact')
  const { code, stderr } = await uffdExit(m)
  t.equal(code, 0, `uffd-serve exits 0 ${stderr}`)
  const counts = streamCounts(m.uffdLog)
  t.ok(counts !== undefined && counts.answered > 0 && counts.requests > 0, `pages were sent for fault requests: ${JSON.stringify(counts)}`)
  t.ok(counts !== undefined && counts.pushed > 0, 'and the rest was pushed')
  const root = rootSummary(m.uffdLog)
  t.equal((counts?.pushed ?? 0) + (counts?.answered ?? 0), root?.total, 'every lazy page crossed the channel once')
  t.ok(allDelivered(root, NPAGES), 'every page delivered')
  await migrated(t, s, m)
})

t.test('events: fork, madvise, munmap and mremap during the lazy phase, over the page stream', async (t) => {
  if (!(await needCriu(t))) return
  const s = await setup(t, 'events')
  const m = await migrate(t, s, { feed: ['--max-rate', String(SLOW_PUSH_MIB_S * 2)] })
  const restored = workloadFromPid(m.restore.pid, s.src.source.logPath)
  await sleep(1500)
  t.equal(await restored.verify(), `verified ${NPAGES} ok`, 'memory intact after events in the lazy phase')
  const { code, stderr } = await uffdExit(m)
  t.equal(code, 0, `uffd-serve exits 0 ${stderr}`)
  const log = readFileSync(m.uffdLog, 'utf8')
  for (const ev of ['FORK', 'REMOVE', 'UNMAP', 'REMAP']) {
    t.ok(new RegExp(`: ${ev}: `).test(log), `${ev} events were handled (${log.split(`: ${ev}: `).length - 1})`)
  }
  t.ok(allDelivered(rootSummary(m.uffdLog), NPAGES), `every page owed was delivered: ${JSON.stringify(rootSummary(m.uffdLog))}`)
  await migrated(t, s, m)
})

/** The two `cat`s of `cat | uffd-serve | cat` under page-feed's --via-cmd shell: the channel to cut. */
function channelRelays(feedPid: number): number[] {
  return childrenOf(feedPid).flatMap(childrenOf).filter((p) => {
    try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'cat' } catch { return false }
  })
}

/** A slow migration, in its push phase for a while. */
async function midTransfer(t: Test, opts: Parameters<typeof migrate>[2] = {}): Promise<{ s: Setup; m: Migration }> {
  const s = await setup(t)
  const m = await migrate(t, s, { feed: ['--max-rate', String(SLOW_PUSH_MIB_S)], ...opts })
  await waitFor('the push to start', () => (readFileSync(s.feedLog, 'utf8').includes('the restore finished, pushing') ? true : undefined))
  await sleep(500)
  return { s, m }
}

/** Cuts the channel of a slow migration in its push phase; `beforeCut` gets the restored task's host pid. */
async function cutMidTransfer(t: Test, uffd: string[], beforeCut?: (restored: number) => void): Promise<{ s: Setup; m: Migration; code: number; stderr: string }> {
  const { s, m } = await midTransfer(t, { uffd, relays: true })
  beforeCut?.(m.restore.pid)
  const relays = channelRelays(m.feed.pid!)
  t.equal(relays.length, 2, 'found the two relays of the channel')
  for (const p of relays) process.kill(p, 'SIGKILL')
  const { code, stderr } = await uffdExit(m)
  return { s, m, code, stderr }
}

/** The innermost pid of host pid `pid` (the last NSpid column). */
function innermostPid(pid: number): number | undefined {
  const ns = /^NSpid:\s+([\d\s]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim().split(/\s+/)
  return ns === undefined ? undefined : Number(ns[ns.length - 1])
}

/** Some of its memory is registered with a userfaultfd (VmFlags "um" in smaps). */
function hasUffdMemory(pid: number): boolean {
  return /^VmFlags:.*\bum\b/m.test(readFileSync(`/proc/${pid}/smaps`, 'utf8'))
}

interface Decoy {
  /** Host pid of test/fixtures/uffd-decoy.c, pid 1 in its pid namespace. */
  pid: number
  /** Host pid of its child. */
  child: number
  who: string
}

/**
 * A look-alike of the restored root task (pid 1 of its pid namespace, uffd-registered memory, a
 * child) that is not of the restore: root's own, or `nobody`'s in a user namespace (no privilege).
 */
async function startDecoy(t: Test, asNobody: boolean): Promise<Decoy> {
  const bin = await buildWorkload('uffd-decoy')
  const user = asNobody ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'] : []
  const userns = asNobody ? ['--user', '--map-root-user'] : []
  const argv = [...user, 'unshare', ...userns, '--pid', '--fork', bin]
  const p = execa(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'inherit'], reject: false })
  t.teardown(() => killGroup(p.pid!))
  let out = ''
  p.stdout!.on('data', (b: Buffer) => { out += b.toString() })
  await waitFor('the decoy to be ready', () => (out.includes('ready 1') ? true : undefined))
  const pid = onlyChild(p.pid!)!
  return { pid, child: onlyChild(pid)!, who: asNobody ? 'nobody\'s decoy' : 'root\'s decoy' }
}

/** The source dump saw the session end without PS_IOV_CLOSE and resumed the original. */
async function sourceResumed(t: Test, s: Setup, m: Migration): Promise<void> {
  await waitFor('the dump to exit', () => (procStat(m.dumpPid) === undefined ? true : undefined), { timeoutMs: 60_000 })
  t.match(readFileSync(join(s.images, 'dump.log'), 'utf8'), /Lazy pages transfer FAILED/, 'the lazy dump failed the transfer')
  t.ok(s.src.source.alive(), 'the original runs again')
  t.equal(await s.src.source.verify(), `verified ${NPAGES} ok`, 'with intact memory')
  await sleep(300)
  t.ok(s.src.source.alive(), 'and keeps running')
}

t.test('the channel cut mid-transfer: the restored tree is killed, no look-alike of it, the source resumes', async (t) => {
  if (!(await needCriu(t))) return
  // Look-alikes of the restored task, each in a pid namespace of its own with the same pid and
  // uffd-registered memory: by pid number and /proc they cannot be told from it.
  const decoys = [await startDecoy(t, false), await startDecoy(t, true)]
  const { s, m, code, stderr } = await cutMidTransfer(t, [], (restored) => {
    for (const d of decoys) {
      t.equal(innermostPid(d.pid), innermostPid(restored), `${d.who} has the restored task's pid (${innermostPid(restored)}) in its namespace`)
      t.ok(hasUffdMemory(d.pid) && hasUffdMemory(restored), `${d.who} and the restored task both have uffd memory`)
    }
  })
  t.equal(code, 1, 'uffd-serve exits 1')
  // The cut ends the stream between messages or inside one, or meets uffd-serve's next write to
  // the feeder (a credit, a request): any of them, one line with the cause.
  t.match(stderr, /^uffd-serve: (the page stream ended before every page was delivered \(\d+ pages still owed\)|page stream on fds 0,1 ended inside a message \(truncated\)|page stream on fds 0,1: the feeder's end is closed \(EPIPE\))[^\n]*; \d+ pages were still owed, so the restored tree was killed \(1 process\) rather than left to read zero pages \(--on-source-loss=zero keeps it\)\n$/, `one line naming the cause: ${stderr}`)
  const restore = await m.restore.criu
  t.ok(procStat(m.restore.pid) === undefined, `the restored copy is gone (criu restore ended: exit ${restore.exitCode})`)
  for (const d of decoys) t.ok(pidAlive(d.pid) && pidAlive(d.child), `${d.who} and its child are alive`)
  const fed = await m.feed
  t.equal(fed.exitCode, 1, 'page-feed exits 1')
  t.match(readFileSync(s.feedLog, 'utf8'), /the source dump resumes the original \(the dump exited 1\)/, 'page-feed dropped the session and saw the dump fail')
  await sourceResumed(t, s, m)
})

t.test('the same cut with --on-source-loss=zero: CRIU\'s behaviour, the copy reads zero pages', async (t) => {
  if (!(await needCriu(t))) return
  const { s, m, code, stderr } = await cutMidTransfer(t, ['--on-source-loss', 'zero'])
  t.equal(code, 1, 'uffd-serve exits 1')
  // As above: the cut falls between messages or inside one.
  t.match(stderr, /^uffd-serve: (the page stream ended before every page was delivered|page stream on fds 0,1 ended inside a message|page stream on fds 0,1: the feeder's end is closed \(EPIPE\))[^\n]*--on-source-loss=zero: the restored tree runs on and reads zero pages[^\n]*\n$/, `one line: ${stderr}`)
  // The documented outcome: the copy is left running, and the pages that never came read as
  // zeros. memhog finds them, on its own next tick or at our SIGUSR1 (and exits 3); a real
  // workload would not notice. Only the copy can log CORRUPT: the source's memory is intact.
  try { process.kill(m.restore.pid, 'SIGUSR1') } catch { /* it found them on its own already */ }
  const corrupt = await waitFor('the copy to find zero pages', () => /^CORRUPT page \d+.*$/m.exec(readFileSync(s.src.source.logPath, 'utf8'))?.[0])
  t.pass(`the copy finds zero pages where its memory was: ${corrupt}`)
  await m.restore.kill()
  await sourceResumed(t, s, m)
})

t.test('page-feed killed outright mid-transfer: the dump still takes it for a failure and resumes the source', async (t) => {
  // Over the socketpair there is no TCP reset: what tells the dump is the byte page-feed always
  // leaves unread (page-server-source.ts), which makes the kernel end the session with ECONNRESET.
  if (!(await needCriu(t))) return
  const { s, m } = await midTransfer(t)
  process.kill(m.feed.pid!, 'SIGKILL')
  const { code } = await uffdExit(m)
  t.equal(code, 1, 'uffd-serve exits 1 (its feeder is gone)')
  await sourceResumed(t, s, m)
  t.ok(procStat(m.restore.pid) === undefined, 'the restored copy was killed')
})
