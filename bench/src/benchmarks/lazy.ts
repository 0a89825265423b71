// 5. lazy restore. A workload (bench/native/faulttouch.c: memhog's memory and log, plus random
// page touches on SIGUSR2) of the workload size is dumped once with a plain `criu dump -D` into
// tmpfs, and `crit-make-lazy` strips its lazily restorable pages into a second directory. Then,
// alternately: a full `criu restore -D` of the dump, and uffd-serve (serving the full dump,
// started and listening beforehand, as a lazy-pages daemon is) + `criu restore --lazy-pages` of
// the made-lazy directory.
//   time to running: criu's fork to the moment CRIU logs that the tasks were resumed;
//   all pages delivered: criu's fork to uffd-serve's exit (it exits 0 once every page is in);
//   fault service time: as soon as the lazy restore is running, the workload reads TOUCHES random
//   pages; the reads of pages mincore(2) reported missing are userfaultfd faults, timed in the
//   workload itself (median and p99 per run, then the median over runs);
//   made-lazy directory: apparent size of DST's files.
// Every restored workload verifies all its pages before it is killed.
import { existsSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { waitFor, workloadFromPid, type Workload } from '@criu-pipes/e2e/harness'
import type { Benchmark, Ctx, Draft } from '../context.js'
import { needsCriu } from '../context.js'
import { forgetGroup, trackGroup } from '../lib/cleanup.js'
import { runCriuMeasured, startRestoreMeasured } from '../lib/criu.js'
import { binPath, q, readUsage, runGroup, seconds, startGroup, tail } from '../lib/procs.js'
import { MIB, formatSize, toMib } from '../lib/units.js'
import { readOr } from '../lib/wait.js'
import { target } from '../report.js'
import { deadGroup, expectVerified, imageDirSize, npagesOf, restored, watch } from './common.js'

const FULL = 'criu restore -D (full)'
const LAZY = 'uffd-serve + restore --lazy-pages'
const TOUCHES = 2000
const TOUCHED = /^touched (\d+) faults (\d+) p50_ns (-?\d+) p90_ns (-?\d+) p99_ns (-?\d+) max_ns (-?\d+) resident_p50_ns (-?\d+)$/gm
const MADE_LAZY_KIB = 150

/** Why uffd-serve cannot be benchmarked yet, or undefined when it can. */
async function uffdServeUnusable(): Promise<string | undefined> {
  const main = binPath('uffd-serve')
  const dist = join(main, '..', '..', 'dist', 'src', 'main.js')
  if (!existsSync(main) || !existsSync(dist)) return `uffd-serve is not built (${existsSync(main) ? dist : main} missing)`
  const r = await execa('node', [main, '--help'], { reject: false, timeout: 20_000, all: true })
  if (r.exitCode !== 0) return `uffd-serve --help exits ${r.exitCode}: ${tail(String(r.all ?? ''), 200)}`
  return undefined
}

async function startFaultTouch(ctx: Ctx): Promise<Workload> {
  const dir = ctx.work.sub('lazy-workload')
  const logPath = join(dir, 'faulttouch.log')
  const child = execa(ctx.natives.faulttouch, [String(toMib(ctx.sizes.workload)), logPath, String(TOUCHES)],
    { cwd: dir, detached: true, stdio: 'ignore', reject: false })
  const pid = await new Promise<number>((res, rej) => {
    child.once('spawn', () => res(child.pid!))
    child.once('error', rej)
  })
  trackGroup(pid)
  void child.then(() => forgetGroup(pid))
  const w = workloadFromPid(pid, logPath)
  await w.waitReady(300_000)
  return w
}

interface Images { src: string; dst: string; logPath: string }

async function makeImages(ctx: Ctx, d: Draft): Promise<Images> {
  const w = await startFaultTouch(ctx)
  const src = ctx.work.sub('lazy-src', true)
  const dst = join(ctx.work.sub('lazy-dst', true), 'images')
  const logs = ctx.work.sub('lazy-setup')
  try {
    await runCriuMeasured(ctx.natives, ['dump', '-t', String(w.pid), '-D', src], logs, 'dump')
    await w.exited
  } catch (e) {
    w.kill()
    throw e
  }
  const t0 = process.hrtime.bigint()
  await runGroup(`node ${q(binPath('crit-make-lazy'))} ${q(src)} ${q(dst)}`, 'crit-make-lazy')
  d.facts.make_lazy = { label: 'crit-make-lazy wall time', unit: 's', value: seconds(t0, process.hrtime.bigint()) }
  d.facts.src = { label: 'full image (criu dump -D)', unit: 'MiB', value: imageDirSize(src) / MIB }
  d.facts.made_lazy = { label: 'made-lazy directory', unit: 'KiB', value: imageDirSize(dst) / 1024 }
  return { src, dst, logPath: w.logPath }
}

async function restoreFull(ctx: Ctx, d: Draft, run: number, img: Images): Promise<void> {
  const work = ctx.work.sub('lazy-full')
  const r = await startRestoreMeasured(ctx.natives, ['-D', img.src], work, 'restore')
  try {
    d.rec.add(FULL, run, 'running', 'time to running', 's', seconds(r.startNs, r.runningNs))
    expectVerified(await restored(r.pid, img.logPath).verify(120_000), npagesOf(ctx))
  } finally {
    await r.kill()
  }
}

function touchedLines(logPath: string): RegExpExecArray[] {
  return [...readOr(logPath).matchAll(TOUCHED)]
}

async function restoreLazy(ctx: Ctx, d: Draft, run: number, img: Images): Promise<void> {
  const work = ctx.work.sub('lazy-lazy')
  const usage = join(work, 'uffd-serve.usage')
  const status = join(work, 'status')
  const errFile = join(work, 'uffd-serve.err')
  const logPath = join(work, 'lazy-pages.log')
  const g = await startGroup(`${q(ctx.natives.measure)} ${q(usage)} node ${q(binPath('uffd-serve'))} lazy-pages -D ${q(img.src)} ` +
    `-W ${q(work)} -o lazy-pages.log -v3 --status-fd 3 3>${q(status)} 2>${q(errFile)}`)
  const state = watch(g, errFile)
  try {
    await waitFor('uffd-serve to listen', () => {
      if (existsSync(status) && statSync(status).size > 0) return true
      const why = deadGroup(state)
      if (why) throw new Error(`uffd-serve: ${why}`)
      return undefined
    }, { timeoutMs: 60_000, intervalMs: 5 })
    const before = touchedLines(img.logPath).length
    const r = await startRestoreMeasured(ctx.natives, ['-D', img.dst, '-W', work, '--lazy-pages'], work, 'restore', { pollMs: 1 })
    try {
      process.kill(r.pid, 'SIGUSR2') // touch random pages now, while most are still missing
      d.rec.add(LAZY, run, 'running', 'time to running', 's', seconds(r.startNs, r.runningNs))
      const m = await waitFor('the workload to report its page touches', () => touchedLines(img.logPath)[before], { timeoutMs: 120_000, intervalMs: 5 })
      const us = (ns: string) => (Number(ns) < 0 ? Number.NaN : Number(ns) / 1000)
      d.rec.add(LAZY, run, 'faults', 'faults timed', '', Number(m[2]))
      d.rec.add(LAZY, run, 'fault_p50', 'fault p50', 'µs', us(m[3]!))
      d.rec.add(LAZY, run, 'fault_p99', 'fault p99', 'µs', us(m[5]!))
      const done = await g.done
      if (done.exitCode !== 0) {
        throw new Error(`uffd-serve: exit ${done.exitCode}: ${tail(readOr(errFile) || done.stderr)}\n${tail(readOr(logPath), 1500)}`)
      }
      const u = readUsage(usage)
      d.rec.add(LAZY, run, 'delivered', 'all pages delivered', 's', seconds(r.startNs, u.endNs))
      d.rec.add(LAZY, run, 'cpu', 'uffd-serve CPU', 's', u.cpuS)
      d.rec.add(LAZY, run, 'rss', 'uffd-serve peak RSS', 'MiB', u.maxRss / MIB)
      expectVerified(await restored(r.pid, img.logPath).verify(120_000), npagesOf(ctx))
    } finally {
      await r.kill()
    }
  } finally {
    g.kill()
    await g.done
  }
}

export const lazy: Benchmark = {
  id: 'lazy',
  title: 'lazy restore: full criu restore -D vs crit-make-lazy + uffd-serve + criu restore --lazy-pages',
  async skip(ctx) {
    return needsCriu(ctx) ?? (await uffdServeUnusable())
  },
  async run(ctx, d) {
    d.params.workload = `faulttouch ${formatSize(ctx.sizes.workload)}`
    d.params.touches = TOUCHES
    const img = await makeImages(ctx, d)
    d.rec.contender(FULL, true)
    d.rec.contender(LAZY)
    try {
      for (let run = 0; run < ctx.runs; run++) {
        ctx.log(`lazy: run ${run + 1}/${ctx.runs}`)
        await restoreFull(ctx, d, run, img)
        await restoreLazy(ctx, d, run, img)
      }
    } finally {
      rmSync(img.src, { recursive: true, force: true })
      rmSync(img.dst, { recursive: true, force: true })
    }
    const r = d.rec.median(LAZY, 'running') / d.rec.median(FULL, 'running')
    d.ratios.push({ name: `${LAZY} / ${FULL}`, value: r, of: 'time to running' })
    d.targets.push(target('lazy time to running vs full restore', r, '<=', 0.05, 'x'))
    const gib = ctx.sizes.workload / 1024 ** 3
    d.targets.push(target('made-lazy directory', d.facts.made_lazy!.value, '<=', MADE_LAZY_KIB, 'KiB',
      gib === 1 ? undefined : `the target is for a 1 GiB workload; this one is ${formatSize(ctx.sizes.workload)}`))
  },
}
