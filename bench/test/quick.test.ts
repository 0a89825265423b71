// The quick mode of the benchmark suite, run as a test so the benchmarks never rot: it must run
// every benchmark (or skip it with a stated reason), print a well-formed table and write a
// well-formed JSON report. Behaviour only: no timing is judged here.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import t, { type Test } from 'tap'
import { criuAvailable, repoRoot } from '@criu-pipes/e2e/harness'
import type { BenchmarkResult, Report } from '../src/report.js'

const IDS = ['capture', 'checkpoint', 'restore', 'join', 'lazy', 'compress', 'ssh', 'object-store', 'postcopy', 'precopy', 'freeze-disk', 'codecs', 'projection', 'migrate', 'freeze-incremental']
const NEED_CRIU = ['checkpoint', 'restore', 'compress', 'postcopy', 'precopy', 'migrate', 'freeze-incremental']
const NO_TARGET = ['join', 'ssh', 'object-store']

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

t.test('pnpm bench --quick: a table and a JSON report of every benchmark', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'criu-pipes-bench-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const json = join(dir, 'quick.json')
  const main = join(repoRoot(), 'bench', 'dist', 'src', 'main.js')
  const t0 = Date.now()
  const r = await execa('node', [main, '--quick', '--json', json], { reject: false, timeout: 600_000, all: true })
  const out = String(r.stdout)
  t.equal(r.exitCode, 0, `bench --quick exits 0 (no benchmark failed)\n${String(r.all).slice(-3000)}`)
  t.comment(`bench --quick took ${((Date.now() - t0) / 1000).toFixed(1)} s`)

  // the table
  t.match(out, /^criu-pipes benchmarks, quick mode, /m, 'table header')
  t.match(out, /^host: \d+ CPUs, /m, 'host line')
  for (const [i, id] of IDS.entries()) t.match(out, new RegExp(`^${i + 1}\\. `, 'm'), `section ${i + 1} (${id})`)
  t.match(out, /^targets: \d+ PASS, \d+ MISS \(of \d+\); benchmarks: \d+ ok, \d+ skipped, 0 failed$/m, 'summary line')
  t.match(out, new RegExp(`^JSON: ${json.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), 'names the JSON file')

  // the JSON
  const report = JSON.parse(readFileSync(json, 'utf8')) as Report
  t.equal(report.schema, 'criu-pipes-bench/1')
  t.equal(report.mode, 'quick')
  t.ok(!Number.isNaN(Date.parse(report.startedAt)) && !Number.isNaN(Date.parse(report.finishedAt)), 'timestamps')
  t.same(report.benchmarks.map((b) => b.id), IDS, 'every benchmark, in order')
  const criu = await criuAvailable()
  // as the harness's needCriu: in CI a missing CRIU is a failure, not a green run of skips
  if (!criu.ok && process.env.CI === 'true') t.fail(`CRIU is required in CI: ${criu.reason}`)
  for (const b of report.benchmarks) checkBenchmark(t, b, criu.ok)
  const targets = report.benchmarks.flatMap((b) => b.targets)
  t.same(report.summary, {
    targets: targets.length,
    pass: targets.filter((x) => x.pass).length,
    miss: targets.filter((x) => !x.pass).length,
    ok: report.benchmarks.filter((b) => b.status === 'ok').length,
    skipped: report.benchmarks.filter((b) => b.status === 'skipped').length,
    failed: 0,
  }, 'summary adds up')
  // every target in the JSON is printed with its verdict
  for (const x of targets) t.ok(out.includes(`target ${x.name}: `) && /PASS|MISS/.test(out), `target "${x.name}" printed`)
})

function checkBenchmark(t: Test, b: BenchmarkResult, criuOk: boolean): void {
  t.test(b.id, async (t) => {
    t.ok(['ok', 'skipped'].includes(b.status), `status ${b.status}${b.reason ? `: ${b.reason}` : ''}`)
    if (NEED_CRIU.includes(b.id) && criuOk) t.equal(b.status, 'ok', 'runs where CRIU is usable')
    if (b.status === 'skipped') {
      t.ok(typeof b.reason === 'string' && b.reason.length > 0, `skipped with a reason: ${b.reason}`)
      return
    }
    t.equal(b.runs, 1, 'one run in quick mode')
    t.ok(b.contenders.length >= 2, 'at least two contenders')
    t.ok(b.contenders.some((c) => c.baseline) && b.contenders.some((c) => !c.baseline), 'a baseline and the project\'s code')
    for (const c of b.contenders) {
      const metrics = Object.entries(c.metrics)
      t.ok(metrics.length > 0, `${c.name}: has metrics`)
      for (const [key, m] of metrics) {
        t.equal(m.values.length, 1, `${c.name} ${key}: one value per run`)
        if (key.startsWith('fault_')) continue // a quick lazy restore may finish before any timed fault
        t.ok(isNum(m.median) && m.median >= 0, `${c.name} ${key}: a number (${m.median} ${m.unit})`)
      }
    }
    t.ok(b.ratios.length > 0, 'ratios')
    for (const r of b.ratios) t.ok(isNum(r.value) && r.value > 0, `ratio ${r.name} = ${r.value}`)
    for (const x of b.targets) {
      // a target of something that could not run (migrate: a mode img-migrate does not have yet) has no value: a MISS that says why
      const noValue = x.value === null && !x.pass && typeof x.note === 'string' && x.note.length > 0
      t.ok((isNum(x.value) || noValue) && isNum(x.target) && ['>=', '<=', '<'].includes(x.op) && typeof x.pass === 'boolean', `target ${x.name} well-formed`)
    }
    // join, ssh and object-store report ratios and what limits them; their issues set no target
    if (!NO_TARGET.includes(b.id)) t.ok(b.targets.length > 0, 'has targets')
  })
}
