// Post-copy migration over ONE bidirectional channel, against real CRIU: `criu dump --lazy-pages`
// serves its frozen source on the loopback, page-feed reads it and writes the page stream, and
// uffd-serve --pages-from-cmd takes the pages (pushed, or requested on a fault) for `criu restore
// --lazy-pages`. Here the channel is a plain pipe pair (the command's stdin and stdout); the
// ssh form between two network namespaces is in postcopy-ssh.test.ts. Also: faults served while
// the push still runs, the events workload, and the channel cut mid-transfer (fail-stop by
// default, which kills the restored tree and no look-alike of it; CRIU's zero-page behaviour on
// request).
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import t, { type Test } from 'tap'
import {
  PAGE_FEED, allDelivered, buildWorkload, childrenOf, killGroup, lazyDumpInNs, needCriu, onlyChild, pageServerProto, pidAlive,
  procStat, raisePipeMaxSize, rootSummary, sleep, startRestore, startUffdServe, tmpDir, waitFor, workloadFromPid, type LazyDump,
} from '../lib/index.js'

const MIB = 128
const NPAGES = (MIB << 20) / 4096
/** MiB/s of push for the tests that need a long lazy phase: 128 MiB take ~8 s. */
const SLOW_PUSH_MIB_S = 16
/** The page-server wire format of the CRIU under test. */
const PROTO = await pageServerProto()

function feedCommand(images: string, port: number, feedLog: string, extra = ''): string {
  return `exec node ${PAGE_FEED} -D ${images} --port ${port} --page-server-proto ${PROTO} -o ${feedLog} -v4 ${extra}`
}

/** The stream summary uffd-serve logged: pages pushed, pages sent in answer to requests. */
function streamCounts(logPath: string): { pushed: number; answered: number; requests: number } | undefined {
  const m = /(\d+) pages pushed, (\d+) pages sent for (\d+) fault requests/.exec(readFileSync(logPath, 'utf8'))
  return m ? { pushed: Number(m[1]), answered: Number(m[2]), requests: Number(m[3]) } : undefined
}

interface Setup {
  dir: string
  images: string
  work: string
  lazy: LazyDump
  feedLog: string
}

async function setup(t: Test, mode: 'plain' | 'events' | 'random' = 'plain'): Promise<Setup> {
  raisePipeMaxSize(t)
  const dir = tmpDir(t)
  const images = join(dir, 'images')
  const work = join(dir, 'work')
  mkdirSync(images)
  mkdirSync(work)
  const lazy = await lazyDumpInNs(t, dir, images, MIB, mode)
  return { dir, images, work, lazy, feedLog: join(dir, 'feed.log') }
}

/** The migration finished in order: the dump exited 0, the source is gone, the copy runs intact. */
async function migrated(t: Test, s: Setup, r: Awaited<ReturnType<typeof startRestore>>): Promise<void> {
  const dumped = await s.lazy.dump.child
  t.equal(dumped.exitCode, 0, 'the lazy dump finished (PS_IOV_CLOSE came)')
  await s.lazy.ns
  await waitFor('the source to be gone', () => (procStat(s.lazy.source.pid) === undefined ? true : undefined))
  t.pass('the source is gone')
  const restored = workloadFromPid(r.pid, s.lazy.source.logPath)
  t.equal(await restored.verify(), `verified ${NPAGES} ok`, 'the copy runs with intact memory')
  await sleep(300)
  t.ok(restored.alive(), 'and keeps running')
  t.equal(await restored.verify(), `verified ${NPAGES} ok`, 'verified again')
  await r.kill()
  await restored.exited
}

t.test('post-copy through page-feed over a pipe pair', async (t) => {
  if (!(await needCriu(t))) return
  const s = await setup(t)
  const d = startUffdServe(t, s.work, ['-D', s.images, '--pages-from-cmd', feedCommand(s.images, s.lazy.port, s.feedLog)])
  t.equal(await d.ready, true, 'ready once the feeder said hello')
  const r = await startRestore(['-D', s.images, '-W', s.work, '--lazy-pages'])
  t.teardown(() => r.kill())
  const { code, stderr } = await d.exit
  t.equal(code, 0, `uffd-serve exits 0 ${stderr}`)
  const root = rootSummary(d.logPath)
  t.ok(allDelivered(root, NPAGES) && root?.skipped === 0, `every page came through the stream: ${JSON.stringify(root)}`)
  t.match(readFileSync(s.feedLog, 'utf8'), /page-feed done: \d+ pages pushed, \d+ sent for \d+ requests .*PS_IOV_CLOSE answered 0/)
  await migrated(t, s, r)
})

t.test('faults are served while the push still runs: some pages are requested, not pushed', async (t) => {
  if (!(await needCriu(t))) return
  const s = await setup(t, 'random')
  const d = startUffdServe(t, s.work, ['-D', s.images, '--pages-from-cmd',
    feedCommand(s.images, s.lazy.port, s.feedLog, `--max-rate ${SLOW_PUSH_MIB_S}`)])
  t.equal(await d.ready, true)
  const r = await startRestore(['-D', s.images, '-W', s.work, '--lazy-pages'])
  t.teardown(() => r.kill())
  // The workload checks 256 random pages every 100 ms from its first tick; let it run on its own
  // for a while (the push needs ~8 s), then check all of it.
  const restored = workloadFromPid(r.pid, s.lazy.source.logPath)
  await sleep(2000)
  t.ok(restored.alive(), 'the copy runs while its pages are still coming')
  t.equal(await restored.verify(), `verified ${NPAGES} ok`, 'memory intact')
  const { code, stderr } = await d.exit
  t.equal(code, 0, `uffd-serve exits 0 ${stderr}`)
  const counts = streamCounts(d.logPath)
  t.ok(counts !== undefined && counts.answered > 0 && counts.requests > 0, `pages were sent for fault requests: ${JSON.stringify(counts)}`)
  t.ok(counts !== undefined && counts.pushed > 0, 'and the rest was pushed')
  const root = rootSummary(d.logPath)
  t.equal((counts?.pushed ?? 0) + (counts?.answered ?? 0), root?.total, 'every lazy page crossed the channel once')
  t.ok(allDelivered(root, NPAGES), 'every page delivered')
  await migrated(t, s, r)
})

t.test('events: fork, madvise, munmap and mremap during the lazy phase, over the page stream', async (t) => {
  if (!(await needCriu(t))) return
  const s = await setup(t, 'events')
  const d = startUffdServe(t, s.work, ['-D', s.images, '--pages-from-cmd',
    feedCommand(s.images, s.lazy.port, s.feedLog, `--max-rate ${SLOW_PUSH_MIB_S * 2}`)])
  t.equal(await d.ready, true)
  const r = await startRestore(['-D', s.images, '-W', s.work, '--lazy-pages'])
  t.teardown(() => r.kill())
  const restored = workloadFromPid(r.pid, s.lazy.source.logPath)
  await sleep(1500)
  t.equal(await restored.verify(), `verified ${NPAGES} ok`, 'memory intact after events in the lazy phase')
  const { code, stderr } = await d.exit
  t.equal(code, 0, `uffd-serve exits 0 ${stderr}`)
  const log = readFileSync(d.logPath, 'utf8')
  for (const ev of ['FORK', 'REMOVE', 'UNMAP', 'REMAP']) {
    t.ok(new RegExp(`: ${ev}: `).test(log), `${ev} events were handled (${log.split(`: ${ev}: `).length - 1})`)
  }
  t.ok(allDelivered(rootSummary(d.logPath), NPAGES), `every page owed was delivered: ${JSON.stringify(rootSummary(d.logPath))}`)
  await migrated(t, s, r)
})

/** The two `cat`s of `cat | page-feed | cat` under uffd-serve's shell: the channel to cut. */
function channelRelays(uffdServePid: number): number[] {
  const shells = childrenOf(uffdServePid)
  return shells.flatMap(childrenOf).filter((p) => {
    try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'cat' } catch { return false }
  })
}

async function cutMidTransfer(t: Test, extra: string[], beforeCut?: (restored: number) => void): Promise<{ s: Setup; r: Awaited<ReturnType<typeof startRestore>>; code: number | null; stderr: string }> {
  const s = await setup(t)
  // The shell's stderr (its "Killed" notes, page-feed's own last line) goes to a file: uffd-serve's
  // stderr is then uffd-serve's alone.
  const cmd = `exec 2>>${s.dir}/channel.err; cat | node ${PAGE_FEED} -D ${s.images} --port ${s.lazy.port} --page-server-proto ${PROTO} -o ${s.feedLog} -v4 --max-rate ${SLOW_PUSH_MIB_S} | cat`
  const d = startUffdServe(t, s.work, ['-D', s.images, '--pages-from-cmd', cmd, ...extra])
  t.equal(await d.ready, true)
  const r = await startRestore(['-D', s.images, '-W', s.work, '--lazy-pages'])
  t.teardown(() => r.kill())
  await waitFor('the push to start', () => (readFileSync(s.feedLog, 'utf8').includes('the restore finished, pushing') ? true : undefined))
  await sleep(500)
  beforeCut?.(r.pid)
  const relays = channelRelays(d.pid)
  t.equal(relays.length, 2, 'found the two relays of the channel')
  for (const p of relays) process.kill(p, 'SIGKILL')
  const { code, stderr } = await d.exit
  return { s, r, code, stderr }
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

/** The source dump saw the session dropped without PS_IOV_CLOSE and resumed the original. */
async function sourceResumed(t: Test, s: Setup): Promise<void> {
  const dumped = await s.lazy.dump.child
  t.not(dumped.exitCode, 0, `the lazy dump failed the transfer (exit ${dumped.exitCode})`)
  t.match(readFileSync(s.feedLog, 'utf8'), /the source dump resumes the original/, 'page-feed dropped the session')
  t.ok(s.lazy.source.alive(), 'the original runs again')
  t.equal(await s.lazy.source.verify(), `verified ${NPAGES} ok`, 'with intact memory')
  await sleep(300)
  t.ok(s.lazy.source.alive(), 'and keeps running')
}

t.test('the channel cut mid-transfer: the restored tree is killed, no look-alike of it, the source resumes', async (t) => {
  if (!(await needCriu(t))) return
  // Look-alikes of the restored task, each in a pid namespace of its own with the same pid and
  // uffd-registered memory: by pid number and /proc they cannot be told from it.
  const decoys = [await startDecoy(t, false), await startDecoy(t, true)]
  const { s, r, code, stderr } = await cutMidTransfer(t, [], (restored) => {
    for (const d of decoys) {
      t.equal(innermostPid(d.pid), innermostPid(restored), `${d.who} has the restored task's pid (${innermostPid(restored)}) in its namespace`)
      t.ok(hasUffdMemory(d.pid) && hasUffdMemory(restored), `${d.who} and the restored task both have uffd memory`)
    }
  })
  t.equal(code, 1, 'uffd-serve exits 1')
  // The cut ends the stream between messages or inside one: either way, one line with the cause.
  t.match(stderr, /^uffd-serve: (the page stream ended before every page was delivered \(\d+ pages still owed\)|page stream from .* ended inside a message)[^\n]*; \d+ pages were still owed, so the restored tree was killed \(1 process\) rather than left to read zero pages \(--on-source-loss=zero keeps it\)\n$/, `one line naming the cause: ${stderr}`)
  const restore = await r.criu
  t.ok(procStat(r.pid) === undefined, `the restored copy is gone (criu restore ended: exit ${restore.exitCode})`)
  for (const d of decoys) t.ok(pidAlive(d.pid) && pidAlive(d.child), `${d.who} and its child are alive`)
  await sourceResumed(t, s)
})

t.test('the same cut with --on-source-loss=zero: CRIU\'s behaviour, the copy reads zero pages', async (t) => {
  if (!(await needCriu(t))) return
  const { s, r, code, stderr } = await cutMidTransfer(t, ['--on-source-loss', 'zero'])
  t.equal(code, 1, 'uffd-serve exits 1')
  t.match(stderr, /^uffd-serve: the page stream ended before every page was delivered[^\n]*--on-source-loss=zero: the restored tree runs on and reads zero pages[^\n]*\n$/, `one line: ${stderr}`)
  // The documented outcome: the copy is left running, and the pages that never came read as
  // zeros. memhog finds them, on its own next tick or at our SIGUSR1 (and exits 3); a real
  // workload would not notice. Only the copy can log CORRUPT: the source's memory is intact.
  try { process.kill(r.pid, 'SIGUSR1') } catch { /* it found them on its own already */ }
  const corrupt = await waitFor('the copy to find zero pages', () => /^CORRUPT page \d+.*$/m.exec(readFileSync(s.lazy.source.logPath, 'utf8'))?.[0])
  t.pass(`the copy finds zero pages where its memory was: ${corrupt}`)
  await r.kill()
  await sourceResumed(t, s)
})
