// uffd-serve against real CRIU: `criu restore --lazy-pages` of a made-lazy dump served from the
// full images; the same while the workload forks, madvises, munmaps and mremaps; a TCP server
// with an established connection (CRIU >= 4.2); served by a
// real `criu page-server --lazy-pages`; true post-copy migration from a frozen `criu dump
// --lazy-pages` (both on a port, CRIU's way, and on a socketpair uffd-serve makes: no port); and
// the refusal of a directory that has no page data.
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import t, { type Test } from 'tap'
import {
  allDelivered, criuBin, freePort, lazyDumpInNs, listeningPort, needCriu, needCriuAtLeast, pageServerProto, pidAlive, procStat,
  raisePipeMaxSize, repoRoot, rootSummary, runCriu, spawnCriu, startRestore, startUffdServe, startWorkload, tcpClient, tcpGoesOn,
  tmpDir, sleep, waitFor, workloadFromPid, workloadInNs, type TcpClient, type UffdServe, type Workload,
} from '../lib/index.js'

const MIB = 256
const NPAGES = (MIB << 20) / 4096
const MAKE_LAZY = join(repoRoot(), 'packages', 'crit-make-lazy', 'bin', 'crit-make-lazy.js')
/** MiB/s: 256 MiB take ~4 s to push... */
const EVENTS_PUSH_MIB_S = 64
/** ...and the workload runs ~15 ticks of events before the full verify. */
const EVENTS_RUN_MS = 1500
/** A workload dumped plainly into dir/src and made lazy into dir/dst. */
async function dumpAndMakeLazy(
  t: Test, dir: string, mode: 'plain' | 'events', beforeDump?: (w: Workload) => Promise<void>, dumpArgs: string[] = [],
): Promise<{ w: Workload; src: string; dst: string }> {
  const src = join(dir, 'src')
  const dst = join(dir, 'dst')
  mkdirSync(src)
  // beforeDump: a TCP server too, and what to do with it before the dump
  const w = await startWorkload({ mib: MIB, mode, dir, ...(beforeDump ? { tcp: 0 } : {}) })
  t.teardown(() => w.kill())
  await w.waitReady()
  t.equal(await w.verify(), `verified ${NPAGES} ok`, 'verified before the dump')
  await beforeDump?.(w)
  await runCriu(['dump', '-t', String(w.pid), '-D', src, ...dumpArgs])
  await w.exited
  const made = await execa('node', [MAKE_LAZY, src, dst], { reject: false })
  t.equal(made.exitCode, 0, `crit-make-lazy ${made.stdout}${made.stderr}`)
  return { w, src, dst }
}

/** Restores `dst` lazily through `daemon`, verifies the workload, checks the daemon's end. */
async function restoreAndVerify(t: Test, w: Workload, restoreArgs: string[], daemon: UffdServe, runMs = 0): Promise<number> {
  const t0 = performance.now()
  const r = await startRestore(restoreArgs)
  const restoreMs = performance.now() - t0
  t.teardown(() => r.kill())
  t.equal(r.pid, w.pid, 'restored with its pid')
  const rw = workloadFromPid(r.pid, w.logPath)
  // A full verify faults in every page at once and so ends the lazy phase; let the workload run
  // on its own first when what it does meanwhile is the point.
  await sleep(runMs)
  t.equal(await rw.verify(), `verified ${NPAGES} ok`, 'memory intact after the lazy restore')
  const { code, stderr } = await daemon.exit
  t.equal(code, 0, `uffd-serve exits 0 ${stderr}`)
  const root = rootSummary(daemon.logPath)
  t.ok(allDelivered(root, NPAGES), `every lazy page delivered to the restored task: ${JSON.stringify(root)}`)
  await r.kill()
  await rw.exited
  return restoreMs
}

/**
 * `criu restore --lazy-pages` of `dst` through the daemon listening in `work`: the restored
 * workload verifies, then again once `daemonDone` (the daemon's end, checked by the caller) is over.
 */
async function verifiedLazyRestore(t: Test, w: Workload, dst: string, work: string, daemonDone: () => Promise<void>): Promise<void> {
  const r = await startRestore(['-D', dst, '-W', work, '--lazy-pages'])
  t.teardown(() => r.kill())
  const rw = workloadFromPid(r.pid, w.logPath)
  t.equal(await rw.verify(), `verified ${NPAGES} ok`, 'memory intact after the lazy restore')
  await daemonDone()
  t.equal(await rw.verify(), `verified ${NPAGES} ok`, 'and still intact once the daemon is done')
  await r.kill()
  await rw.exited
}

t.test('local: made-lazy DST restored, pages served from the full SRC', async (t) => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const { w, src, dst } = await dumpAndMakeLazy(t, dir, 'plain')
  const work = join(dir, 'work')
  mkdirSync(work)
  const d = startUffdServe(t, work, ['-D', src])
  t.equal(await d.ready, true, 'uffd-serve signalled readiness on --status-fd')
  const lazyMs = await restoreAndVerify(t, w, ['-D', dst, '-W', work, '--lazy-pages'], d)
  t.equal(rootSummary(d.logPath)?.skipped, 0, 'nothing skipped: a plain workload copies every page')
  t.notOk(existsSync(join(work, 'lazy-pages.socket')), 'no socket file left behind')
  const done = /lazy-pages done: .* end after ([\d.]+) s/.exec(readFileSync(d.logPath, 'utf8'))

  // For comparison: a full restore of the same images reads all 256 MiB before the task runs.
  const t0 = performance.now()
  const full = await startRestore(['-D', src])
  const fullMs = performance.now() - t0
  t.teardown(() => full.kill())
  await full.kill()
  await workloadFromPid(full.pid, w.logPath).exited
  t.comment(`${MIB} MiB: criu restore --lazy-pages to running ${lazyMs.toFixed(0)} ms, ` +
    `all pages delivered ${done?.[1] ?? '?'} s after the restore connected; full criu restore ${fullMs.toFixed(0)} ms`)
})

t.test('-d without -o: the daemon\'s stderr was a pipe whose reader is gone; a real lazy restore; the log kills nothing', async (t) => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const { w, src, dst } = await dumpAndMakeLazy(t, dir, 'plain')
  const work = join(dir, 'work')
  mkdirSync(work)
  // -v4 and no -o: every fault is a line for stderr, the pipe to the starter, which exits now.
  const d = startUffdServe(t, work, ['-D', src, '-d', '--pidfile', 'uffd-serve.pid'], { logFile: false })
  t.equal(await d.ready, true)
  t.equal((await d.exit).code, 0, 'the starter exits 0; nobody reads its stderr pipe any more')
  const daemon = Number(readFileSync(join(work, 'uffd-serve.pid'), 'utf8'))
  t.teardown(() => { try { process.kill(daemon, 'SIGKILL') } catch { /* gone */ } })
  // With -d and no -o the daemon logs to WORKDIR/uffd-serve.log, stderr included: never the dead pipe.
  t.equal(readlinkSync(`/proc/${daemon}/fd/2`), join(work, 'uffd-serve.log'), 'the daemon\'s stderr is its log file in the work dir')
  await verifiedLazyRestore(t, w, dst, work, async () => {
    await waitFor('the daemon to deliver every page and exit', () => (pidAlive(daemon) ? undefined : true), { timeoutMs: 60_000 })
  })
})

t.test('-o /dev/full: every log write fails (ENOSPC); a real lazy restore is served to the end all the same', async (t) => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const { w, src, dst } = await dumpAndMakeLazy(t, dir, 'plain')
  const work = join(dir, 'work')
  mkdirSync(work)
  const d = startUffdServe(t, work, ['-D', src, '-o', '/dev/full'], { logFile: false })
  t.equal(await d.ready, true)
  await verifiedLazyRestore(t, w, dst, work, async () => {
    const { code, stderr } = await d.exit
    t.equal(code, 0, `uffd-serve exits 0 ${stderr}`)
    t.match(stderr, /^uffd-serve: warning: \d+ log lines were dropped: the log write failed \(ENOSPC\)\n$/, 'and says once that its log was lost')
  })
})

t.test('events: fork, madvise, munmap and mremap during the lazy phase', async (t) => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const { w, src, dst } = await dumpAndMakeLazy(t, dir, 'events')
  const work = join(dir, 'work')
  mkdirSync(work)
  // Capped background push stretches the lazy phase (~4 s), and the workload runs its 100 ms
  // ticks on its own for a while before the full verify: every kind of event lands while pages
  // are still missing.
  const d = startUffdServe(t, work, ['-D', src, '--max-push-rate', String(EVENTS_PUSH_MIB_S)])
  t.equal(await d.ready, true)
  await restoreAndVerify(t, w, ['-D', dst, '-W', work, '--lazy-pages'], d, EVENTS_RUN_MS)
  const log = readFileSync(d.logPath, 'utf8')
  for (const ev of ['FORK', 'REMOVE', 'UNMAP', 'REMAP']) {
    t.ok(new RegExp(`: ${ev}: `).test(log), `${ev} events were handled (${log.split(`: ${ev}: `).length - 1})`)
  }
})

t.test('a TCP server restored lazily: its connection goes on (--tcp-established), it listens again, memory intact', async (t) => {
  if (!(await needCriuAtLeast(t, '4.2', 'cannot dump a listening TCP socket on this kernel'))) return
  const dir = tmpDir(t)
  let c: TcpClient | undefined
  let port = 0
  const { w, src, dst } = await dumpAndMakeLazy(t, dir, 'plain', async (w) => {
    port = listeningPort(w)
    c = await tcpClient(port)
    t.equal(await c.ask(), `pong 1 ${NPAGES}`, 'served before the dump')
  }, ['--tcp-established'])
  t.teardown(() => c?.sock.destroy())
  const work = join(dir, 'work')
  mkdirSync(work)
  const d = startUffdServe(t, work, ['-D', src])
  t.equal(await d.ready, true)
  const r = await startRestore(['-D', dst, '-W', work, '--lazy-pages', '--tcp-established'])
  t.teardown(() => r.kill())
  await tcpGoesOn(t, c!, port, NPAGES, 1)
  const rw = workloadFromPid(r.pid, w.logPath)
  t.equal(await rw.verify(), `verified ${NPAGES} ok`, 'memory intact after the lazy restore')
  t.equal((await d.exit).code, 0, 'uffd-serve exits 0')
  await r.kill()
  await rw.exited
})

/** A plain workload dumped and made lazy in a fresh dir, with a work dir beside: for the page servers. */
async function madeLazyWithWork(t: Test): Promise<Awaited<ReturnType<typeof dumpAndMakeLazy>> & { work: string }> {
  raisePipeMaxSize(t)
  const dir = tmpDir(t)
  const made = await dumpAndMakeLazy(t, dir, 'plain')
  const work = join(dir, 'work')
  mkdirSync(work)
  return { ...made, work }
}

t.test('remote: criu page-server --lazy-pages serves SRC, uffd-serve --page-server reads DST', async (t) => {
  if (!(await needCriu(t))) return
  const { w, src, dst, work } = await madeLazyWithWork(t)
  const port = await freePort()
  const ps = spawnCriu(['page-server', '--lazy-pages', '-D', src, '--address', '127.0.0.1', '--port', String(port)])
  t.teardown(() => { ps.child.kill('SIGKILL') })
  await waitFor('the page server to listen', () =>
    existsSync(ps.logPath) && /Waiting for connections|Starting page server/i.test(readFileSync(ps.logPath, 'utf8')) ? true : undefined)
  // Over TCP, `auto` would ask the `criu` on PATH; the CRIU under test comes from $CRIU.
  const d = startUffdServe(t, work, ['-D', dst, '--page-server', '--address', '127.0.0.1', '--port', String(port), '--page-server-proto', await pageServerProto()])
  t.equal(await d.ready, true)
  await restoreAndVerify(t, w, ['-D', dst, '-W', work, '--lazy-pages'], d)
  const served = await ps.child
  t.equal(served.exitCode, 0, 'the page server got PS_IOV_CLOSE and exited 0')
})

t.test('post-copy: criu dump --lazy-pages, then uffd-serve --page-server from the frozen source', async (t) => {
  if (!(await needCriu(t))) return
  raisePipeMaxSize(t)
  const dir = tmpDir(t)
  const images = join(dir, 'images')
  mkdirSync(images)
  // The source stays frozen (alive) until the transfer ends, so the restored copy needs its own
  // pid namespace to get the same pids: the workload runs as init of a new one.
  const { source, ns, dump, port } = await lazyDumpInNs(t, dir, images, MIB)
  const { pid, logPath } = source
  const pagesBytes = readdirSync(images).filter((f) => f.startsWith('pages-'))
    .reduce((n, f) => n + readFileSync(join(images, f)).length, 0)
  t.ok(pagesBytes < 1 << 20, `the lazy dump left ${pagesBytes} bytes of pages on disk`)

  const work = join(dir, 'work')
  mkdirSync(work)
  const d = startUffdServe(t, work, ['-D', images, '--page-server', '--address', '127.0.0.1', '--port', String(port), '--page-server-proto', await pageServerProto()])
  t.equal(await d.ready, true)
  const r = await startRestore(['-D', images, '-W', work, '--lazy-pages'])
  t.teardown(() => r.kill())
  const { code, stderr } = await d.exit
  t.equal(code, 0, `uffd-serve exits 0 ${stderr}`)
  const root = rootSummary(d.logPath)
  t.ok(allDelivered(root, NPAGES) && root?.skipped === 0, `all pages came over TCP: ${JSON.stringify(root)}`)
  const dumped = await dump.child
  t.equal(dumped.exitCode, 0, 'the lazy dump finished')
  await ns
  await waitFor('the source to be gone', () => (procStat(pid) === undefined ? true : undefined))
  t.pass('the source is gone')
  const restored = workloadFromPid(r.pid, logPath)
  t.equal(await restored.verify(), `verified ${NPAGES} ok`, 'the restored copy runs with intact memory')
  await r.kill()
  await restored.exited
})

t.test('no port: uffd-serve --page-server starts criu page-server --lazy-pages on a socketpair', async (t) => {
  if (!(await needCriu(t))) return
  const { w, src, dst, work } = await madeLazyWithWork(t)
  const d = startUffdServe(t, work, ['-D', dst, '--page-server', '--', criuBin(), 'page-server', '--lazy-pages', '-D', src, '-o', 'ps.log', '-v4'])
  t.equal(await d.ready, true)
  await restoreAndVerify(t, w, ['-D', dst, '-W', work, '--lazy-pages'], d)
  t.match(readFileSync(join(src, 'ps.log'), 'utf8'), /Reusing ps socket 3/, 'the page server served on our socketpair')
  t.notMatch(readFileSync(d.logPath, 'utf8'), /after PS_IOV_CLOSE/, 'and exited 0 after PS_IOV_CLOSE')
})

t.test('post-copy, no port: uffd-serve --page-server starts criu dump --lazy-pages itself', async (t) => {
  if (!(await needCriu(t))) return
  raisePipeMaxSize(t)
  const dir = tmpDir(t)
  const images = join(dir, 'images')
  mkdirSync(images)
  const { source, ns } = await workloadInNs(t, dir, MIB)
  const work = join(dir, 'work')
  mkdirSync(work)
  const d = startUffdServe(t, work, ['-D', images, '--page-server', '--',
    criuBin(), 'dump', '-t', String(source.pid), '-D', images, '-o', 'dump.log', '-v4', '--lazy-pages'])
  t.equal(await d.ready, true, 'ready once the dump serves and the images are read')
  const r = await startRestore(['-D', images, '-W', work, '--lazy-pages'])
  t.teardown(() => r.kill())
  const { code, stderr } = await d.exit
  t.equal(code, 0, `uffd-serve exits 0 ${stderr}`)
  t.ok(allDelivered(rootSummary(d.logPath), NPAGES), `all pages came over the socketpair: ${JSON.stringify(rootSummary(d.logPath))}`)
  t.match(readFileSync(join(images, 'dump.log'), 'utf8'), /Lazy pages transfer finished successfully/)
  t.notMatch(readFileSync(d.logPath, 'utf8'), /after PS_IOV_CLOSE/, 'the dump exited 0')
  await ns
  await waitFor('the source to be gone', () => (procStat(source.pid) === undefined ? true : undefined))
  const restored = workloadFromPid(r.pid, source.logPath)
  t.equal(await restored.verify(), `verified ${NPAGES} ok`, 'the restored copy runs with intact memory')
  await r.kill()
  await restored.exited
})

t.test('bad input: uffd-serve pointed at the made-lazy directory refuses', async (t) => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const { dst } = await dumpAndMakeLazy(t, dir, 'plain')
  const d = startUffdServe(t, dir, ['-D', dst])
  t.equal(await d.ready, false, 'never signals readiness')
  const { code, stderr } = await d.exit
  t.equal(code, 1)
  t.match(stderr, /^uffd-serve: \S+\/dst has no data for \d+ lazy pages \(a crit-make-lazy output\?\): point -D at the full images or use --page-server\n$/)
  t.notOk(existsSync(join(dir, 'lazy-pages.socket')), 'nothing listens')
})

/** Where each of a process's fds points (`pipe:[123]`, a path), by fd number. */
function fdTargets(pid: number): Map<number, string> {
  const out = new Map<number, string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try { out.set(Number(fd), readlinkSync(`/proc/${pid}/fd/${fd}`)) } catch { /* closed meanwhile */ }
  }
  return out
}

t.test('uffd-serve -d --page-server -- criu: the dump writes to the log, not to whoever started us, and inherits none of our fds', async (t) => {
  if (!(await needCriu(t))) return
  const { w, src, dst, work } = await madeLazyWithWork(t)
  const pidfile = join(work, 'uffd-serve.pid')
  const d = startUffdServe(t, work, ['-d', '--pidfile', pidfile, '-D', dst, '--page-server', '--', criuBin(), 'page-server', '--lazy-pages', '-D', src, '-o', 'ps.log'])
  t.equal(await d.ready, true)
  const daemon = Number(readFileSync(pidfile, 'utf8'))
  t.teardown(() => { try { process.kill(daemon, 'SIGKILL') } catch { /* gone */ } })
  // The starter's stderr is a pipe to us: it must end when the starter exits, though CRIU runs on
  // (a `$(uffd-serve -d ...)` or an ssh session would otherwise wait for the whole migration).
  const ended = await Promise.race([d.exit.then(() => true), sleep(10_000).then(() => false)])
  t.ok(ended, 'the starter\'s stderr reached EOF while the page server still runs')
  const criu = Number(readFileSync(`/proc/${daemon}/task/${daemon}/children`, 'utf8').trim().split(/\s+/)[0])
  t.ok(criu > 0 && pidAlive(criu), `the page server (pid ${criu}) runs`)
  const ours = new Set([...fdTargets(daemon).values()].filter((p) => !p.startsWith('/dev/null') && !p.endsWith('lazy-pages.log')))
  const theirs = fdTargets(criu)
  t.equal(theirs.get(2), join(work, 'lazy-pages.log'), 'its stderr is the daemon\'s log')
  t.equal(theirs.get(1), join(work, 'lazy-pages.log'), 'and so is its stdout')
  const shared = [...theirs].filter(([, p]) => ours.has(p))
  t.same(shared, [], 'no fd of the daemon\'s leaked into CRIU')
  const r = await startRestore(['-D', dst, '-W', work, '--lazy-pages'])
  t.teardown(() => r.kill())
  const rw = workloadFromPid(r.pid, w.logPath)
  t.equal(await rw.verify(), `verified ${NPAGES} ok`, 'memory intact after the lazy restore')
  await waitFor('the daemon to finish', () => (pidAlive(daemon) ? undefined : true))
  await r.kill()
  await rw.exited
})
