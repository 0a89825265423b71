// Freeze of an incremental final round (issue 15, item 5): how long `criu dump` keeps the process
// frozen when img-split hashes every page against the base's index (--base-index), against a full
// round of the same process. Per run, one fresh mixed memhog (churn:1): round 1 with --index-out
// (the base; the process runs meanwhile, not compared), then 1 % of its pages rewritten, then the
// final round both ways, interleaved, each with `--leave-running` (the same memory for each):
// plain img-split (the full round, baseline) and `img-split --base-index` (the delta). img-split
// is CRIU's action script, so the post-dump hook holds the freeze until the shard's consumer has
// every byte. Two sinks: the one shard drained as fast as splice goes (what the full round costs
// with nothing to send, the strictest case: on 2 cores the hashing shares them with CRIU), and
// the benchmarks' link, 250 MB/s (the seed's 2 GB/s for 16 CPUs, scaled to these 2 cores).
// Freeze = CRIU's own log: the first task seized to "Unfreezing tasks" (after the hook).
// CPU per GB of the image (the full round's stream bytes) of each stage: criu (with its hook),
// img-split, and img-split's difference between the two rounds (the page hashing and lookup).
import { startWorkload } from '@criu-pipes/e2e/harness'
import type { Benchmark, Ctx, Draft } from '../context.js'
import { needsCriu } from '../context.js'
import { frozenS } from '../lib/criu.js'
import { GB, formatSize, toMib } from '../lib/units.js'
import { target } from '../report.js'
import { dump, type Dumped } from './precopy.js'

const LINK = 250e6
const SINKS = [{ rate: 0, label: 'unthrottled' }, { rate: LINK, label: `${LINK / 1e6} MB/s` }]
const FULL = (sink: string) => `full round (plain img-split), ${sink}`
const INCR = (sink: string) => `incremental final round, 1 % dirty (--base-index), ${sink}`
const DIRTY = 'churn:1'
const TARGET = 1.0

async function runOnce(ctx: Ctx, d: Draft, run: number): Promise<void> {
  const w = await startWorkload({ mib: toMib(ctx.sizes.workload), dir: ctx.work.sub(`freeze-incr-${run}`), mode: DIRTY, memory: 'mixed' })
  try {
    await w.waitReady(300_000)
    const ram = ctx.work.sub(`freeze-incr-${run}-ram`, true)
    const idx = `${ram}/r1.idx`
    // dump() makes img-split the action script (holdFrozen, lib/criu.ts)
    await dump(ctx, ctx.work.sub(`freeze-incr-${run}-r1`), w, ['--index-out', idx], null, 0)
    const churned = await w.churn()
    ctx.log(`freeze-incremental: memhog rewrote ${churned.pages} pages`)
    for (const sink of SINKS) {
      const order = run % 2 ? (['incr', 'full'] as const) : (['full', 'incr'] as const)
      const got: Record<string, Dumped> = {}
      for (const k of order) {
        got[k] = await dump(ctx, ctx.work.sub(`freeze-incr-${run}-${k}-${sink.rate}`), w, k === 'incr' ? ['--base-index', idx] : [], null, sink.rate)
      }
      const gb = got.full!.bytes / GB
      for (const k of ['full', 'incr'] as const) {
        const name = k === 'full' ? FULL(sink.label) : INCR(sink.label)
        const r = got[k]!
        d.rec.add(name, run, 'frozen', 'frozen (CRIU log: seized to unfreezing)', 's', frozenS(r.criu.logPath))
        d.rec.add(name, run, 'criu_cpu', 'criu CPU (with its hook)', 'CPU-s/GB', r.criu.usage.cpuS / gb)
        d.rec.add(name, run, 'split_cpu', 'img-split CPU', 'CPU-s/GB', r.split.cpuS / gb)
        d.rec.add(name, run, 'bytes', 'stream bytes', 'MB', r.bytes / 1e6)
      }
      d.rec.add(INCR(sink.label), run, 'hash_cpu', 'img-split CPU beyond the full round (hashing, lookup)', 'CPU-s/GB', (got.incr!.split.cpuS - got.full!.split.cpuS) / gb)
    }
  } finally {
    w.kill()
    await w.exited
  }
}

export const freezeIncremental: Benchmark = {
  id: 'freeze-incremental',
  title: 'freeze of an incremental final round (1 % dirty, --base-index) vs a full round of the same process',
  skip: needsCriu,
  async run(ctx, d) {
    d.params.workload = `memhog ${formatSize(ctx.sizes.workload)}, mixed memory, ${DIRTY}`
    d.params.sinks = `one shard, drained: ${SINKS.map(x => x.label).join(', ')}; img-split as the action script`
    for (const sink of SINKS) { d.rec.contender(FULL(sink.label), true); d.rec.contender(INCR(sink.label)) }
    for (let run = 0; run < ctx.runs; run++) {
      ctx.log(`freeze-incremental: run ${run + 1}/${ctx.runs}`)
      await runOnce(ctx, d, run)
    }
    for (const sink of SINKS) {
      const r = d.rec.median(INCR(sink.label), 'frozen') / d.rec.median(FULL(sink.label), 'frozen')
      d.ratios.push({ name: `${INCR(sink.label)} / full round`, value: r, of: 'frozen' })
      d.targets.push(target(`incremental final round freeze / full round freeze, ${sink.label}`, r, '<=', TARGET, 'x'))
    }
  },
}
