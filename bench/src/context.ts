// What every benchmark gets from the runner.
import type { CriuAvailability } from '@criu-pipes/e2e/harness'
import type { Natives } from './lib/native.js'
import type { WorkDir } from './lib/workdir.js'
import type { BenchmarkResult, Recorder } from './report.js'

export interface Sizes {
  /** bytes of page data the synthetic producer feeds (benchmark 1) */
  synthetic: number
  /** workload memory for the real-CRIU benchmarks (2, 3, 5) */
  workload: number
  /** bytes of page data in the 4 shards of benchmark 4 */
  join: number
  /** workload memory of the migrate benchmark (its quick size is larger: see bench/README.md) */
  migrate: number
}

export interface Ctx {
  natives: Natives
  work: WorkDir
  runs: number
  quick: boolean
  sizes: Sizes
  criu: CriuAvailability
  /** migrate's dirty rates (% of the pages a second) from --dirty; null: its own defaults */
  dirtyRates: number[] | null
  /** where the JSON report goes: files a benchmark writes beside it (a chart) */
  resultsDir: string
  /** a progress line on stderr */
  log(msg: string): void
}

/** What a benchmark fills in; the runner adds status, timing and the contenders' medians. */
export interface Draft {
  rec: Recorder
  params: BenchmarkResult['params']
  facts: BenchmarkResult['facts']
  ratios: BenchmarkResult['ratios']
  targets: BenchmarkResult['targets']
  notes: string[]
}

export interface Benchmark {
  id: string
  title: string
  /** a reason to skip, checked before running (e.g. no CRIU) */
  skip?(ctx: Ctx): Promise<string | undefined> | string | undefined
  run(ctx: Ctx, d: Draft): Promise<void>
}

/** Skips when real CRIU is not usable here. */
export function needsCriu(ctx: Ctx): string | undefined {
  return ctx.criu.ok ? undefined : `no usable CRIU: ${ctx.criu.reason}`
}
