#!/usr/bin/env node
// `pnpm bench [--quick] [options]`: runs the benchmarks of issue 4, each several times with its
// contenders interleaved (A B A B ...), prints a table of medians, ratios and targets, and writes
// the same as JSON (bench/results/latest.json; --quick: bench/results/quick.json).
// Exit 0 when every benchmark ran or was skipped for a stated reason (a target MISS is a result,
// not a failure), 1 when one failed, 2 on a bad command line.
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { criuAvailable, repoRoot } from '@criu-pipes/e2e/harness'
import type { Benchmark, Ctx, Draft, Sizes } from './context.js'
import { killAllGroups } from './lib/cleanup.js'
import { buildNatives } from './lib/native.js'
import { GIB, MIB, formatSize, parseSize } from './lib/units.js'
import { createWorkDir, removeStale } from './lib/workdir.js'
import { Recorder, renderReport, summarize, toJson, type BenchmarkResult, type Report } from './report.js'
import { capture } from './benchmarks/capture.js'
import { checkpoint } from './benchmarks/checkpoint.js'
import { restore } from './benchmarks/restore.js'
import { joinBench } from './benchmarks/join.js'
import { lazy } from './benchmarks/lazy.js'
import { compress } from './benchmarks/compress.js'
import { precopy } from './benchmarks/precopy.js'
import { ssh } from './benchmarks/ssh.js'
import { objectStore } from './benchmarks/object-store.js'
import { postcopy } from './benchmarks/postcopy.js'
import { freezeDisk } from './benchmarks/freeze-disk.js'
import { freezeIncremental } from './benchmarks/freeze-incremental.js'
import { codecs } from './benchmarks/codecs.js'
import { projection } from './benchmarks/projection.js'
import { migrate } from './benchmarks/migrate.js'

const BENCHMARKS: Benchmark[] = [capture, checkpoint, restore, joinBench, lazy, compress, ssh, objectStore, postcopy, precopy, freezeDisk, codecs, projection, migrate, freezeIncremental]

const USAGE = `usage: pnpm bench [--quick] [options]      (or: node bench/dist/src/main.js ...)

  --quick                 small sizes, one run (what the test suite runs)
  --runs N                runs per benchmark, contenders interleaved (default 5; quick 1)
  --size SIZE             workload memory for the real-CRIU benchmarks 2, 3, 5, 6, 8 (default 2G; quick 64M)
                          and of migrate (default 2G; quick 256M; hybrid also at twice it)
  --synthetic-size SIZE   page data of the synthetic capture, benchmark 1 (default 16G; quick 256M)
  --join-size SIZE        page data in the 4 shards of benchmark 4 (default: --size; quick 128M)
  --dirty LIST            migrate's dirty rates, % of the pages a second (default 1,10,50,100; quick 1,100)
  --only LIST             comma list of: ${BENCHMARKS.map((b) => b.id).join(', ')}
  --json PATH             where the JSON goes (default bench/results/latest.json; quick: quick.json)
  --keep                  keep the scratch directory (logs) under the system tmpdir
  -h, --help

SIZE: 2G, 512M, 1.5G (binary units). Needs root (tmpfs, CRIU) and cc.`

class UsageError extends Error {}

interface Options {
  quick: boolean
  runs: number
  sizes: Sizes
  only: string[]
  dirty: number[] | null
  json: string
  keep: boolean
}

function parseOptions(argv: string[]): Options {
  let v
  try {
    v = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean', default: false },
        runs: { type: 'string' },
        size: { type: 'string' },
        'synthetic-size': { type: 'string' },
        'join-size': { type: 'string' },
        only: { type: 'string' },
        dirty: { type: 'string' },
        json: { type: 'string' },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
  if (v.help) {
    process.stdout.write(`${USAGE}\n`)
    process.exit(0)
  }
  const quick = v.quick ?? false
  const size = (s: string | undefined, dflt: number) => {
    try { return s === undefined ? dflt : parseSize(s) } catch (e) { throw new UsageError((e as Error).message) }
  }
  const runs = v.runs === undefined ? (quick ? 1 : 5) : Number(v.runs)
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) throw new UsageError(`--runs must be a whole number from 1 to 100`)
  const workload = size(v.size, quick ? 64 * MIB : 2 * GIB)
  const only = v.only === undefined ? BENCHMARKS.map((b) => b.id) : v.only.split(',').map((s) => s.trim()).filter(Boolean)
  for (const id of only) if (!BENCHMARKS.some((b) => b.id === id)) throw new UsageError(`--only: no benchmark "${id}"`)
  const dirty = v.dirty === undefined ? null : v.dirty.split(',').map((s) => Number(s.trim()))
  // memhog's dirty:PCT takes 0.01 to 1000 % a second (1 to 100000 pages per 100000 in each of its 10 generations a second)
  if (dirty && (dirty.length === 0 || dirty.some((r) => !(r >= 0.01 && r <= 1000)))) throw new UsageError(`--dirty: "${v.dirty}" is not a list of rates from 0.01 to 1000 (% a second)`)
  return {
    quick,
    runs,
    sizes: {
      workload,
      synthetic: size(v['synthetic-size'], quick ? 256 * MIB : 16 * GIB),
      join: size(v['join-size'], quick ? 128 * MIB : workload),
      migrate: size(v.size, quick ? 256 * MIB : 2 * GIB),
    },
    dirty,
    only,
    json: resolve(v.json ?? join(repoRoot(), 'bench', 'results', quick ? 'quick.json' : 'latest.json')),
    keep: v.keep ?? false,
  }
}

async function runOne(b: Benchmark, ctx: Ctx): Promise<BenchmarkResult> {
  const t0 = performance.now()
  const d: Draft = { rec: new Recorder(ctx.runs), params: {}, facts: {}, ratios: [], targets: [], notes: [] }
  const result = (status: BenchmarkResult['status'], reason?: string): BenchmarkResult => ({
    id: b.id, title: b.title, status, ...(reason !== undefined ? { reason } : {}), params: d.params, runs: ctx.runs,
    contenders: d.rec.result(), facts: d.facts, ratios: d.ratios, targets: d.targets, notes: d.notes,
    durationS: (performance.now() - t0) / 1000,
  })
  try {
    const why = await b.skip?.(ctx)
    if (why) return result('skipped', why)
    await b.run(ctx, d)
    return result('ok')
  } catch (e) {
    const err = e as Error
    ctx.log(`${b.id} FAILED: ${err.stack ?? err.message}`)
    d.targets.length = 0 // targets of a half-run benchmark would mislead
    return result('failed', err.message.split('\n')[0])
  } finally {
    killAllGroups() // nothing of one benchmark runs into the next
  }
}

async function main(): Promise<number> {
  let opts: Options
  try {
    opts = parseOptions(process.argv.slice(2))
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    process.stderr.write(`bench: ${e.message}\n${USAGE}\n`)
    return 2
  }
  const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`)
  const startedAt = new Date().toISOString()
  const loadAtStart = loadavg().map((x) => x.toFixed(2)).join(' ')
  for (const d of removeStale()) log(`removed the leftovers of a dead run: ${d}`)
  const work = createWorkDir({ keep: opts.keep })
  log(`${opts.quick ? 'quick' : 'full'} mode, ${opts.runs} run(s); workload ${formatSize(opts.sizes.workload)}, ` +
    `synthetic ${formatSize(opts.sizes.synthetic)}, join ${formatSize(opts.sizes.join)}; scratch ${work.root}`)
  const [natives, criu] = await Promise.all([buildNatives(), criuAvailable()])
  if (!criu.ok) log(`real-CRIU benchmarks will be skipped: ${criu.reason}`)
  const ctx: Ctx = {
    natives, work, runs: opts.runs, quick: opts.quick, sizes: opts.sizes, criu, log, dirtyRates: opts.dirty, resultsDir: dirname(opts.json),
  }
  mkdirSync(ctx.resultsDir, { recursive: true })
  const results: BenchmarkResult[] = []
  for (const b of BENCHMARKS.filter((x) => opts.only.includes(x.id))) {
    log(`${b.id}: start`)
    const r = await runOne(b, ctx)
    results.push(r)
    const passed = r.targets.filter((t) => t.pass).length
    log(`${b.id}: ${r.status}${r.reason ? ` (${r.reason})` : ''} after ${r.durationS.toFixed(1)} s` +
      `${r.targets.length ? `; targets ${passed}/${r.targets.length} PASS` : ''}`)
  }
  const report: Report = {
    schema: 'criu-pipes-bench/1',
    mode: opts.quick ? 'quick' : 'full',
    startedAt,
    finishedAt: new Date().toISOString(),
    host: {
      cpus: cpus().length,
      memGiB: Number((totalmem() / GIB).toFixed(1)),
      kernel: release(),
      node: process.version,
      criu: criu.ok ? criu.version : `unavailable (${criu.reason})`,
      loadavg: loadAtStart,
      tmpfs: work.ramNote,
    },
    options: {
      runs: opts.runs, workload: opts.sizes.workload, synthetic: opts.sizes.synthetic, join: opts.sizes.join, migrate: opts.sizes.migrate,
      only: opts.only.join(','), ...(opts.dirty ? { dirty: opts.dirty.join(',') } : {}),
    },
    benchmarks: results,
    summary: summarize(results),
  }
  process.stdout.write(`${renderReport(report)}\n`)
  mkdirSync(dirname(opts.json), { recursive: true })
  writeFileSync(opts.json, toJson(report))
  process.stdout.write(`JSON: ${opts.json}\n`)
  return report.summary.failed > 0 ? 1 : 0
}

try {
  process.exitCode = await main()
} catch (e) {
  process.stderr.write(`bench: ${(e as Error).message}\n`)
  if (process.env.CRIU_PIPES_DEBUG) process.stderr.write(`${(e as Error).stack}\n`)
  process.exitCode = 1
}
// anything still holding the event loop (a poll timer of a failed wait) must not keep us here
process.exit()
