// 14. migrate (issue 18): img-migrate between two hosts, every mode it accepts, against the rate
// at which the process dirties its memory. Two network namespaces joined by a veth pair capped
// at 250 MB/s with tbf, a real sshd in the destination (scripts/lib/two-hosts.sh); img-migrate
// runs beside the workload, its channel `ssh dst img-migrate --receive -W DIR`. The workload is a
// fresh mixed memhog per run and contender, init of a pid namespace of its own (a lazy restore
// needs its pids while the frozen original holds them), that dirties R % of its pages per second by itself
// (memhog's dirty:R), for a warm-up second before the migration and on through it (and on at the
// destination once restored). The modes are those `img-migrate --help` lists; a mode that exits 2
// saying "not yet" is shown as such (its workload, untouched, serves the next contender).
// Figures come from img-migrate's JSON summary (-p FD): downtime (the final round's start to the
// destination's word that the process runs), total time, freeze, rounds, bytes; the restored
// copy at the destination verifies every page (SIGUSR1) before it is stopped. Hybrid also runs at
// 1 %/s and twice the size (downtime independent of size). Contenders interleaved, their order
// rotated from run to run; medians; the table, the targets and an SVG chart (downtime and total
// time against dirty rate, one line per mode, auto in black, labelled with the mode it ran as) in the results folder.
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'
import { buildWorkload, criuBin, killGroup, onlyChild, repoRoot, twoHostsUp, waitFor, workloadFromPid, type TwoHosts, type Workload } from '@criu-pipes/e2e/harness'
import type { Benchmark, Ctx, Draft } from '../context.js'
import { needsCriu } from '../context.js'
import { FIXED_MODES, HYBRID_RATE, migrateTargets, type Figures } from '../lib/migrate-targets.js'
import { binPath, q, startGroup, tail } from '../lib/procs.js'
import { lineChart, type Series } from '../lib/svg-chart.js'
import { formatSize, toMib } from '../lib/units.js'
import { readOr } from '../lib/wait.js'
import { atExit, holdPipeMaxSize } from '../lib/cleanup.js'
import { expectVerified } from './common.js'

/** The link: 250 MB/s (tc's mbit is 10^6 bits), the seed's 16 CPUs : 2 GB/s scaled to 2 cores as benchmarks 6 and 10. */
const LINK = '2000mbit'
const LINK_MBPS = 250
/** Dirty rates, % of the pages per second (quick: the two ends). */
export const RATES = [1, 10, 50, 100]
export const QUICK_RATES = [1, 100]
/** The workload dirties this long before the migration starts: it is in its steady state, and its achieved rate is measured over at least this. */
const WARMUP_MS = 1000
/** A 4 GiB workload fills its memory in about 7 s on a busy core; far beyond that it is stuck. */
const READY_TIMEOUT_MS = 300_000
/** One migration: a full one of 4 GiB crosses the link in 17 s; pre-copy at 100 %/s may take several rounds of that. */
const MIGRATE_TIMEOUT_MS = 900_000
/** A verify of 4 GiB regenerates every page (about 0.65 GB/s) and every dirty stamp. */
const VERIFY_TIMEOUT_MS = 300_000
/** The order modes are shown in (baseline first, auto last); a mode img-migrate adds later goes after. */
const ORDER = [...FIXED_MODES, 'auto']
/** What img-migrate says, exit 2, for a mode it parses but cannot run yet. */
const NOT_YET = /not yet/
const DIRTIED = /^dirtied (\d+) gen \d+ t (\d+)$/gm

const name = (mode: string, rate: number, size?: string): string => `${mode}, ${rate} %/s${size ? `, ${size}` : ''}`

interface Summary { mode: string; why: string; rounds: { bytes: number }[]; bytes: number; freezeMs: number; downtimeMs: number; totalMs: number; pid: number }

/** The --mode choices in `img-migrate --help` (yargs: `[choices: "a", "b"]` on the --mode line). */
export function modesOf(help: string): string[] {
  const line = help.split('\n').find((l) => /^\s*--mode\b/.test(l))
  // yargs wraps a long description: the choices may be on the lines after --mode's
  const rest = line === undefined ? '' : help.slice(help.indexOf(line)).split(/\n\s*--/)[0]!
  const m = /\[choices: ([^\]]+)\]/.exec(rest)
  if (!m) return []
  const modes = [...m[1]!.matchAll(/"([^"]+)"/g)].map((x) => x[1]!)
  const rank = (x: string) => (ORDER.includes(x) ? ORDER.indexOf(x) : ORDER.length)
  return modes.sort((a, b) => rank(a) - rank(b))
}

/** The pages the workload dirtied a second, as a % of all, between two CLOCK_MONOTONIC instants (ms). */
export function achievedRate(log: string, npages: number, fromMs: number, toMs: number): number {
  let pages = 0
  for (const m of log.matchAll(DIRTIED)) {
    const t = Number(m[2])
    if (t >= fromMs && t <= toMs) pages += Number(m[1])
  }
  return toMs > fromMs ? (pages / npages) * 100 / ((toMs - fromMs) / 1000) : Number.NaN
}

const monoMs = (): number => Number(process.hrtime.bigint() / 1_000_000n) // CLOCK_MONOTONIC, as memhog's `t`

/** The modes auto ran as (the summary's `mode`), by dirty rate. */
export type RanAs = Record<number, string[]>

/** What auto ran as, for a legend or a row: `auto as postcopy`, or by rate when that differed. */
export function autoLabel(ranAs: RanAs, rate?: number): string {
  const at = (r: number) => (ranAs[r] ?? []).join('/')
  if (rate !== undefined) return at(rate) ? `auto as ${at(rate)}` : 'auto'
  const rates = Object.keys(ranAs).map(Number).sort((a, b) => a - b).filter((r) => at(r))
  const all = new Set(rates.map(at))
  if (all.size === 0) return 'auto'
  if (all.size === 1) return `auto as ${[...all][0]!}`
  return `auto as ${rates.map((r) => `${at(r)} at ${r} %/s`).join(', ')}`
}

/**
 * memhog as init of a pid namespace of its own (a lazy restore brings the copy back while the
 * frozen original still holds its pids), in the source host's network namespace; the same for
 * every contender. The workload is memhog (the namespace's init): killing its group ends the
 * namespace.
 */
export async function workloadInNs(netns: string, dir: string, mib: number, mode: `dirty:${number}`): Promise<Workload> {
  const logPath = join(dir, 'memhog.log')
  const ns = execa('nsenter', [`--net=/run/netns/${netns}`, 'unshare', '-pf', await buildWorkload(), String(mib), logPath, `${mode},mixed`],
    { cwd: dir, detached: true, stdio: 'ignore', reject: false })
  ns.catch(() => {})
  const forget = atExit(() => killGroup(ns.pid!))
  const pid = await waitFor('the namespaced workload', () => onlyChild(ns.pid!), { timeoutMs: READY_TIMEOUT_MS })
  const w = workloadFromPid(pid, logPath)
  // memhog is a session of its own: unshare's group kill misses it
  const forgetW = atExit(() => w.kill())
  const kill = w.kill.bind(w)
  // it logs the pid it sees, 1, not the host's that Workload.waitReady looks for
  await waitFor('the namespaced workload to be ready', () => {
    if (/^ready 1$/m.test(w.log())) return true
    if (!w.alive()) throw new Error(`the namespaced workload exited before it was ready: ${tail(w.log())}`)
    return undefined
  }, { timeoutMs: READY_TIMEOUT_MS })
  return Object.assign(Object.create(w) as Workload, {
    kill: (signal?: NodeJS.Signals) => { kill(signal); killGroup(ns.pid!); forget(); forgetW() },
  })
}

interface Setup { hosts: TwoHosts; bindir: string; dstWork: string }

interface Slot { mode: string; rate: number; bytes: number; size?: string }

/** One migration; 'not yet' when img-migrate refuses the mode (the workload then runs on untouched). */
async function migrateOnce(ctx: Ctx, d: Draft, s: Setup, slot: Slot, w: Workload, warmMs: number, run: number, ranAs: RanAs): Promise<'done' | { notYet: string }> {
  const dir = ctx.work.sub(`migrate-${slot.mode}-${slot.rate}`, true)
  const summaryFile = join(dir, 'summary.json')
  // to a file: a channel command img-migrate left behind must not hold the bench's pipe open
  const errFile = join(dir, 'img-migrate.err')
  const to = `${s.hosts.sshDst} img-migrate --receive -W ${q(s.dstWork)}`
  const startMs = monoMs()
  // in the source host's network namespace, beside the workload (CRIU dumps a task of its own one)
  const g = await startGroup(`PATH=${q(s.bindir)}:$PATH exec ${s.hosts.onSrc} img-migrate -t ${w.pid} --mode ${q(slot.mode)} --to ${q(to)} -p 3 3>${q(summaryFile)} 2>${q(errFile)}`,
    { timeoutMs: MIGRATE_TIMEOUT_MS })
  const r = await g.done
  const stderr = readOr(errFile)
  if (r.exitCode === 2 && NOT_YET.test(stderr)) return { notYet: stderr.trim().split('\n')[0]! }
  if (r.exitCode !== 0) throw new Error(`img-migrate --mode ${slot.mode} at ${slot.rate} %/s: exit ${r.exitCode}${r.signal ? ` (${r.signal})` : ''}: ${tail(stderr)}`)
  const sum = JSON.parse(readFileSync(summaryFile, 'utf8')) as Summary
  // The source is gone (img-migrate waited for it to be reaped); the copy runs at the destination.
  const copy = workloadFromPid(sum.pid, w.logPath)
  const npages = toMib(slot.bytes) * 256
  try {
    expectVerified(await copy.verify(VERIFY_TIMEOUT_MS), npages)
  } finally {
    copy.kill()
  }
  const who = name(slot.mode, slot.rate, slot.size)
  d.rec.add(who, run, 'downtime', 'downtime', 's', sum.downtimeMs / 1000)
  d.rec.add(who, run, 'total', 'total time', 's', sum.totalMs / 1000)
  d.rec.add(who, run, 'freeze', 'freeze', 's', sum.freezeMs / 1000)
  d.rec.add(who, run, 'rounds', 'rounds', '', sum.rounds.length)
  d.rec.add(who, run, 'bytes', 'bytes sent', 'MB', sum.bytes / 1e6)
  d.rec.add(who, run, 'final', 'final round', 'MB', (sum.rounds.at(-1)?.bytes ?? Number.NaN) / 1e6)
  // the rate the workload kept up while it ran at the source (warm-up included)
  d.rec.add(who, run, 'dirty', 'dirtied at the source', '%/s', achievedRate(w.log(), npages, warmMs, startMs + sum.totalMs - sum.downtimeMs))
  if (slot.mode === 'auto') {
    ranAs[slot.rate] = [...new Set([...(ranAs[slot.rate] ?? []), sum.mode])]
    const line = `auto at ${slot.rate} %/s ran as ${sum.mode}: ${sum.why}`
    if (!d.notes.includes(line)) d.notes.push(line)
  }
  return 'done'
}

async function setUp(ctx: Ctx): Promise<Setup> {
  const bindir = ctx.work.sub('migrate-bin')
  symlinkSync(binPath('img-migrate'), join(bindir, 'img-migrate'))
  symlinkSync(criuBin(), join(bindir, 'criu'))
  // The destination's work dir, on disk as /var/lib/ck would be; img-migrate --receive makes it
  // (private). A short path: CRIU connects to a socket in a directory under it, and a socket's
  // path has at most 107 bytes (sun_path); a numbered sub-directory of the scratch dir was too long.
  const dstWork = join(ctx.work.root, 'mig')
  const hosts = await twoHostsUp(undefined, { rate: LINK, path: bindir, prefix: 'bmig' })
  // also when the bench is interrupted (exit handlers run synchronously; hosts.down() is async)
  const forget = atExit(() => { spawnSync('bash', [join(repoRoot(), 'scripts', 'lib', 'two-hosts.sh'), 'down', hosts.dir], { stdio: 'ignore' }) })
  const down = hosts.down
  hosts.down = async () => { forget(); await down() }
  return { hosts, bindir, dstWork }
}

/** The chart: downtime and total time against dirty rate, one line per mode, auto in black (its legend says what it ran as). */
export function migrateChart(ctx: { modes: string[]; notRun: Record<string, string>; rates: number[]; size: string; runs: number; criu: string; ranAs: RanAs },
  median: (who: string, key: string) => number): string {
  const series = (key: string): Series[] => ctx.modes.map((mode) => ({
    name: mode === 'auto' ? autoLabel(ctx.ranAs) : mode,
    emphasis: mode === 'auto',
    ...(ctx.notRun[mode] !== undefined ? { note: 'not yet' } : {}),
    points: ctx.notRun[mode] !== undefined ? [] : ctx.rates.map((rate) => ({ x: rate, y: median(name(mode, rate), key) })),
  }))
  return lineChart({
    title: 'img-migrate: which mode, at which dirty rate',
    subtitle: `${ctx.size} mixed-memory process over ssh on a ${LINK_MBPS} MB/s link; medians of ${ctx.runs} run${ctx.runs > 1 ? 's' : ''}; CRIU ${ctx.criu}`,
    xLabel: 'pages dirtied per second (% of all)',
    xTicks: ctx.rates,
    panels: [
      { title: 'downtime', yLabel: 'downtime (s)', series: series('downtime') },
      { title: 'total migration time', yLabel: 'total time (s)', series: series('total') },
    ],
  })
}

export const migrate: Benchmark = {
  id: 'migrate',
  title: `img-migrate between two hosts (ssh, ${LINK_MBPS} MB/s tbf link): every mode against the dirty rate`,
  skip(ctx) {
    if (process.getuid?.() !== 0) return 'needs root (network namespaces)'
    if (!existsSync('/usr/sbin/sshd')) return 'no /usr/sbin/sshd (scripts/setup.sh installs openssh-server)'
    if (!existsSync(binPath('img-migrate'))) return 'img-migrate is not built'
    return needsCriu(ctx)
  },
  async run(ctx, d) {
    const rates = ctx.dirtyRates ?? (ctx.quick ? QUICK_RATES : RATES)
    const bytes = ctx.sizes.migrate
    const size = formatSize(bytes)
    const doubleSize = formatSize(2 * bytes)
    const help = await execa('node', [binPath('img-migrate'), '--help'], { reject: false })
    const modes = modesOf(String(help.stdout))
    if (modes.length === 0) throw new Error(`img-migrate --help names no --mode choices: ${tail(String(help.stdout || help.stderr))}`)
    d.params.size = size
    d.params.link = `veth, tbf ${LINK} (${LINK_MBPS} MB/s), ssh`
    d.params.dirty = rates.map((r) => `${r} %/s`).join(', ')
    d.params.modes = modes.join('/')
    /** modes img-migrate refused: 'not yet' (for the targets and the chart), and its own words (for the notes) */
    const notRun: Record<string, string> = {}
    const said: Record<string, string> = {}
    for (const rate of rates) for (const mode of modes) d.rec.contender(name(mode, rate), mode === 'full')
    const hybrid = modes.includes('hybrid') && rates.includes(HYBRID_RATE)
    if (hybrid) d.rec.contender(name('hybrid', HYBRID_RATE, doubleSize))
    const ranAs: RanAs = {}
    // For CRIU's lazy page server (the lazy modes).
    const releasePipeMaxSize = holdPipeMaxSize()
    const s = await setUp(ctx)
    let spare: { w: Workload; warmMs: number; bytes: number; rate: number } | undefined
    try {
      for (let run = 0; run < ctx.runs; run++) {
        for (const rate of rates) {
          const ready = modes.filter((m) => notRun[m] === undefined)
          const turn = run % Math.max(1, ready.length)
          const slots: Slot[] = [...ready.slice(turn), ...ready.slice(0, turn)].map((mode) => ({ mode, rate, bytes }))
          // after hybrid's own slot, so a "not yet" is known before a workload of twice the size is filled
          if (hybrid && rate === HYBRID_RATE) slots.push({ mode: 'hybrid', rate, bytes: 2 * bytes, size: doubleSize })
          for (const slot of slots) {
            if (notRun[slot.mode] !== undefined) continue
            ctx.log(`migrate: run ${run + 1}/${ctx.runs}, ${name(slot.mode, slot.rate, slot.size ?? size)}`)
            let cur = spare?.bytes === slot.bytes && spare.rate === rate ? spare : undefined
            if (!cur) {
              spare?.w.kill()
              const w = await workloadInNs(s.hosts.srcNs, ctx.work.sub(`migrate-w-${rate}`, true), toMib(slot.bytes), `dirty:${rate}`)
              cur = { w, warmMs: monoMs(), bytes: slot.bytes, rate }
              await sleep(WARMUP_MS)
            }
            spare = undefined
            try {
              const res = await migrateOnce(ctx, d, s, slot, cur.w, cur.warmMs, run, ranAs)
              if (res !== 'done') {
                notRun[slot.mode] = 'not yet'
                said[slot.mode] = res.notYet
                spare = cur // untouched: the next contender takes it
              }
            } finally {
              if (spare !== cur) cur.w.kill() // the source's group: the copy at the destination kept it
            }
          }
        }
      }
    } finally {
      spare?.w.kill()
      await s.hosts.down()
      releasePipeMaxSize()
    }
    for (const [mode, why] of Object.entries(said)) d.notes.push(`${mode} did not run: ${why}`)
    // no row for a mode that did not run: its figures are in the notes and the targets
    d.rec.remove((c) => Object.keys(notRun).some((m) => c.startsWith(`${m}, `)))
    const m = (who: string, key: string) => d.rec.median(who, key)
    const figures = (who: string): Figures => ({ downtimeS: m(who, 'downtime'), totalS: m(who, 'total') })
    for (const rate of rates) {
      for (const mode of modes) {
        if (mode === 'full' || notRun[mode] !== undefined || notRun.full !== undefined) continue
        d.ratios.push({ name: `${name(mode === 'auto' ? autoLabel(ranAs, rate) : mode, rate)} / full`, value: m(name(mode, rate), 'downtime') / m(name('full', rate), 'downtime'), of: 'downtime' })
      }
    }
    d.targets.push(...migrateTargets({
      rates, size, doubleSize, notRun,
      at: (mode, rate) => (notRun[mode] !== undefined || !modes.includes(mode) ? undefined : figures(name(mode, rate))),
      hybridDouble: hybrid && notRun.hybrid === undefined ? figures(name('hybrid', HYBRID_RATE, doubleSize)) : undefined,
    }))
    const svg = migrateChart({ modes, notRun, rates, size, runs: ctx.runs, criu: ctx.criu.ok ? ctx.criu.version : '?', ranAs }, m)
    const file = join(ctx.resultsDir, ctx.quick ? 'migrate-quick.svg' : 'migrate.svg')
    writeFileSync(file, svg)
    d.notes.push(`chart: ${file}`)
    // last: the figures above look the rows up by their plain names
    for (const rate of rates) d.rec.rename(name('auto', rate), name(autoLabel(ranAs, rate), rate))
  },
}
