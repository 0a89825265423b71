// What a benchmark produces, and how the whole run is printed (a table of medians, ratios and
// targets) and saved (the same as JSON, with every run's value).
import { median } from './lib/stats.js'

export type Better = 'higher' | 'lower'

export interface Metric {
  label: string
  unit: string
  /** one value per run, in run order (NaN where a run had no value) */
  values: number[]
  median: number
}

export interface Contender {
  name: string
  /** a baseline we compare to (not the project's code) */
  baseline: boolean
  metrics: Record<string, Metric>
}

export interface Ratio {
  name: string
  value: number
  /** what it is the ratio of, e.g. "GB/s img-split 1 shard / GB/s C splice" */
  of: string
}

export interface Target {
  name: string
  value: number
  op: '>=' | '<=' | '<'
  target: number
  unit: string
  pass: boolean
  /** how the target is read here, when it needs saying */
  note?: string
}

export type Status = 'ok' | 'skipped' | 'failed'

export interface BenchmarkResult {
  id: string
  title: string
  status: Status
  /** why it was skipped or how it failed */
  reason?: string
  /** what it was run with (sizes, shard counts, ...) */
  params: Record<string, string | number | boolean>
  runs: number
  contenders: Contender[]
  /** single measurements of the setup (e.g. the made-lazy directory size) */
  facts: Record<string, { label: string; unit: string; value: number }>
  ratios: Ratio[]
  targets: Target[]
  notes: string[]
  durationS: number
}

export interface Report {
  schema: 'criu-pipes-bench/1'
  mode: 'quick' | 'full'
  startedAt: string
  finishedAt: string
  host: Record<string, string | number>
  options: Record<string, string | number | boolean>
  benchmarks: BenchmarkResult[]
  summary: { targets: number; pass: number; miss: number; ok: number; skipped: number; failed: number }
}

/** Collects per-run values of one benchmark's contenders. */
export class Recorder {
  private readonly contenders = new Map<string, Contender>()
  private readonly order: string[] = []

  constructor(readonly runs: number) {}

  contender(name: string, baseline = false): void {
    if (this.contenders.has(name)) return
    this.contenders.set(name, { name, baseline, metrics: {} })
    this.order.push(name)
  }

  /** Records `value` of metric `key` for `contender` in run `run` (0-based). */
  add(contender: string, run: number, key: string, label: string, unit: string, value: number): void {
    this.contender(contender)
    const c = this.contenders.get(contender)!
    const m = (c.metrics[key] ??= { label, unit, values: Array<number>(this.runs).fill(Number.NaN), median: Number.NaN })
    m.values[run] = value
  }

  /** Forgets the contenders `drop` names (e.g. modes that could not run): no row of dashes for them. */
  remove(drop: (name: string) => boolean): void {
    for (const n of this.order.filter(drop)) {
      this.contenders.delete(n)
      this.order.splice(this.order.indexOf(n), 1)
    }
  }

  /** Renames a contender in place (its row keeps its position), e.g. to say what it turned out to be. */
  rename(from: string, to: string): void {
    const c = this.contenders.get(from)
    if (!c || from === to) return
    this.contenders.delete(from)
    this.contenders.set(to, { ...c, name: to })
    this.order[this.order.indexOf(from)] = to
  }

  median(contender: string, key: string): number {
    const m = this.contenders.get(contender)?.metrics[key]
    return m ? median(m.values) : Number.NaN
  }

  result(): Contender[] {
    return this.order.map((n) => {
      const c = this.contenders.get(n)!
      for (const m of Object.values(c.metrics)) m.median = median(m.values)
      return c
    })
  }
}

export function target(name: string, value: number, op: Target['op'], bound: number, unit: string, note?: string): Target {
  const pass = Number.isFinite(value) && (op === '>=' ? value >= bound : op === '<=' ? value <= bound : value < bound)
  return { name, value, op, target: bound, unit, pass, ...(note ? { note } : {}) }
}

// ---- printing ----

/** 3 significant digits, no exponent for the ranges we print; '-' for no value. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return '-'
  const a = Math.abs(v)
  if (a === 0) return '0'
  if (Number.isInteger(v) || a >= 1000) return v.toFixed(0)
  if (a >= 100) return v.toFixed(1)
  if (a >= 10) return v.toFixed(2)
  if (a >= 1) return v.toFixed(3)
  return v.toPrecision(3)
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n)
}

export function table(header: string[], rows: string[][], indent: string): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) => indent + cells.map((c, i) => pad(c, widths[i]!, i > 0)).join('   ').trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)]
}

export function renderBenchmark(b: BenchmarkResult, index: number): string[] {
  const out: string[] = []
  const params = Object.entries(b.params).map(([k, v]) => `${k}=${v}`).join(', ')
  out.push(`${index}. ${b.title}${params ? `  [${params}]` : ''}`)
  if (b.status === 'skipped') {
    out.push(`   skipped: ${b.reason ?? ''}`)
    return out
  }
  if (b.status === 'failed') {
    out.push(`   FAILED: ${b.reason ?? ''}`)
  }
  if (b.contenders.length > 0) {
    const keys: { key: string; label: string; unit: string }[] = []
    for (const c of b.contenders) {
      for (const [key, m] of Object.entries(c.metrics)) if (!keys.some((k) => k.key === key)) keys.push({ key, label: m.label, unit: m.unit })
    }
    const header = ['contender', ...keys.map((k) => `${k.label}${k.unit ? ` (${k.unit})` : ''}`)]
    const rows = b.contenders.map((c) => [c.name + (c.baseline ? ' *' : ''), ...keys.map((k) => fmt(c.metrics[k.key]?.median ?? Number.NaN))])
    out.push(...table(header, rows, '   '))
  }
  for (const f of Object.values(b.facts)) out.push(`   ${f.label}: ${fmt(f.value)} ${f.unit}`)
  for (const r of b.ratios) out.push(`   ratio  ${r.name} = ${fmt(r.value)}   (${r.of})`)
  for (const t of b.targets) {
    const u = t.unit ? ` ${t.unit}` : ''
    out.push(`   target ${t.name}: ${fmt(t.value)}${u} ${t.op} ${fmt(t.target)}${u}   ${t.pass ? 'PASS' : 'MISS'}${t.note ? `   (${t.note})` : ''}`)
  }
  for (const n of b.notes) out.push(`   note: ${n}`)
  out.push(`   (${b.runs} run${b.runs === 1 ? '' : 's'}, medians; * = baseline; took ${b.durationS.toFixed(1)} s)`)
  return out
}

export function renderReport(r: Report): string {
  const out: string[] = []
  const h = r.host
  out.push(`criu-pipes benchmarks, ${r.mode} mode, ${r.startedAt}`)
  out.push(`host: ${h.cpus} CPUs, ${h.memGiB} GiB RAM, Linux ${h.kernel}, node ${h.node}, criu ${h.criu}; load average at start ${h.loadavg}`)
  out.push('')
  r.benchmarks.forEach((b, i) => {
    out.push(...renderBenchmark(b, i + 1))
    out.push('')
  })
  const s = r.summary
  out.push(`targets: ${s.pass} PASS, ${s.miss} MISS (of ${s.targets}); benchmarks: ${s.ok} ok, ${s.skipped} skipped, ${s.failed} failed`)
  return out.join('\n')
}

export function summarize(benchmarks: BenchmarkResult[]): Report['summary'] {
  const targets = benchmarks.flatMap((b) => b.targets)
  return {
    targets: targets.length,
    pass: targets.filter((t) => t.pass).length,
    miss: targets.filter((t) => !t.pass).length,
    ok: benchmarks.filter((b) => b.status === 'ok').length,
    skipped: benchmarks.filter((b) => b.status === 'skipped').length,
    failed: benchmarks.filter((b) => b.status === 'failed').length,
  }
}

/** JSON with NaN written as null (JSON has no NaN). */
export function toJson(r: Report): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n'
}
