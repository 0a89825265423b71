// 7. precopy: pre-copy migration by content (issue 10) against a full streamed migration, over
// one emulated 250 MB/s link. A memhog (churn mode) is dumped once with `criu dump
// --leave-running --stream` through img-split --index-out (round 1: the process runs meanwhile,
// not part of the downtime), extracted by img-join -D as the destination's base; then it
// rewrites 1 %, 10 % or 50 % of its pages, and the final round is dumped both ways, contenders
// interleaved: plain img-split (the full migration) and img-split --base-index (the delta), each
// shard kept by `tee` on the tmpfs and drained at the link's rate. Then (the workload gone) each is
// restored through img-buffer (--base for the delta) and verified page by page.
// Downtime: the final criu dump's fork to the last shard byte through the link, plus img-buffer's
// fork to the restored tasks running (two measured phases; in a real migration img-buffer reads
// while the link carries). Final-round bytes: what crossed the link. Hashing: img-split CPU of
// round 1 (--index-out) against that of the plain final round, per GB; index bytes per GiB.
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { startWorkload, type Workload } from '@criu-pipes/e2e/harness'
import type { Benchmark, Ctx, Draft } from '../context.js'
import { needsCriu } from '../context.js'
import { holdFrozen, runCriuMeasured, type CriuRunResult } from '../lib/criu.js'
import { binPath, q, readUsage, runGroup, seconds, startGroup, tail, type Usage } from '../lib/procs.js'
import { GB, GIB, toMib } from '../lib/units.js'
import { readOr, waitForLine } from '../lib/wait.js'
import { target } from '../report.js'
import { deadGroup, watch } from './common.js'
import { restoreBuffered } from './restore.js'
import { drainedShards } from './shards.js'

/** the link, bytes/s: the seed's 16 CPUs : 2 GB/s scaled to 2 cores, as benchmark 6 */
const RATE = 250e6
const PCTS = [1, 10, 50]
const QUICK_PCTS = [1, 50]
const FULL = (pct: number) => `full migration, ${pct} % dirty`
const PRE = (pct: number) => `pre-copy by content, ${pct} % dirty`

export interface Dumped { bytes: number; timeS: number; split: Usage; criu: CriuRunResult }

/**
 * img-split FLAGS -> one shard -> the drain at `rate` (0: as fast as it goes), behind `tee FILE`
 * if FILE is given; or with `rate` null into FILE. `criu dump --leave-running --stream
 * CRIU_FLAGS` of the workload through it, img-split its action script (holdFrozen, lib/criu.ts)
 * unless the image is `discarded` (never restored).
 */
export async function dump(ctx: Ctx, dir: string, w: Workload, flags: string[], file: string | null, rate: number | null, criuFlags: string[] = [],
  discarded = false): Promise<Dumped> {
  const images = join(dir, 'images')
  const usage = join(dir, 'img-split.usage')
  const progress = join(dir, 'progress')
  const errFile = join(dir, 'img-split.err')
  const shards = rate !== null ? drainedShards(ctx.natives, dir, 1, { rate, ...(file ? { filter: ['tee', file] } : {}) }) : null
  const plumbing = shards ?? { start: 'true', list: '3', redirs: `3>${q(file!)}`, wait: 'true' }
  const g = await startGroup(`rm -rf ${q(images)} ${q(progress)} && ${plumbing.start} && { ${q(ctx.natives.measure)} ${q(usage)} node ${q(binPath('img-split'))} ` +
    `-D ${q(images)} -s ${plumbing.list} ${flags.map(q).join(' ')} -p 9 9>${q(progress)} ${plumbing.redirs} 2>${q(errFile)} & split=$!; } && ` +
    `wait $split && ${plumbing.wait}`)
  const state = watch(g, errFile)
  try {
    await waitForLine(progress, /^socket-init$/m, 'img-split to listen', { dead: () => deadGroup(state) })
    const hold = discarded ? [] : holdFrozen()
    const c = await runCriuMeasured(ctx.natives, ['dump', '-t', String(w.pid), '-D', images, '--stream', '--leave-running', ...hold, ...criuFlags], dir, 'dump', undefined, { discarded })
    const r = await g.done
    if (r.exitCode !== 0) throw new Error(`img-split ${flags.join(' ')}: exit ${r.exitCode}: ${tail(readOr(errFile) || r.stderr)}`)
    const drained = shards?.result()
    const endNs = drained ? drained.endNs : c.usage.endNs
    return { bytes: drained ? drained.bytes : statSync(file!).size, timeS: seconds(c.usage.startNs, endNs), split: readUsage(usage), criu: c }
  } finally {
    g.kill()
    await g.done
  }
}

async function runPct(ctx: Ctx, d: Draft, pct: number, run: number): Promise<void> {
  const dir = ctx.work.sub(`precopy-${pct}`)
  const ram = ctx.work.sub(`precopy-${pct}-ram`, true)
  const w = await startWorkload({ mib: toMib(ctx.sizes.workload), dir, mode: `churn:${pct}` })
  try {
    await w.waitReady(300_000)
    const idx = join(ram, 'r1.idx')
    const r1 = await dump(ctx, ctx.work.sub(`precopy-${pct}-r1`), w, ['--index-out', idx], join(ram, 'r1.shard'), null)
    await runGroup(`node ${q(binPath('img-join'))} -D ${q(join(ram, 'base'))} < ${q(join(ram, 'r1.shard'))}`, 'img-join -D base')
    const churned = await w.churn()
    ctx.log(`precopy ${pct} %: memhog rewrote ${churned.pages} pages`)
    const files = { full: join(ram, 'full.shard'), pre: join(ram, 'delta.shard') }
    const order = run % 2 ? (['pre', 'full'] as const) : (['full', 'pre'] as const)
    const got: Record<string, Dumped> = {}
    for (const k of order) {
      got[k] = await dump(ctx, ctx.work.sub(`precopy-${pct}-${k}`), w, k === 'pre' ? ['--base-index', idx] : [], files[k], RATE)
    }
    w.kill()
    await w.exited
    const image = got.full!.bytes
    for (const k of ['full', 'pre'] as const) {
      const name = k === 'full' ? FULL(pct) : PRE(pct)
      const r = await restoreBuffered(ctx, [files[k]], w.logPath, k === 'pre' ? ['--base', join(ram, 'base')] : [])
      d.rec.add(name, run, 'downtime', 'downtime', 's', got[k]!.timeS + r.runningS)
      d.rec.add(name, run, 'dump', 'of it final dump + link', 's', got[k]!.timeS)
      d.rec.add(name, run, 'restore', 'of it img-buffer start to running', 's', r.runningS)
      d.rec.add(name, run, 'bytes', 'final-round bytes', 'MB', got[k]!.bytes / 1e6)
      d.rec.add(name, run, 'split_cpu', 'final img-split CPU', 'CPU-s/GB', got[k]!.split.cpuS / (image / GB))
    }
    // hashing: this against the plain round's img-split CPU (the only difference is the hashing)
    d.rec.add(PRE(pct), run, 'index_cpu', 'round-1 img-split CPU (--index-out)', 'CPU-s/GB', r1.split.cpuS / (image / GB))
    d.rec.add(PRE(pct), run, 'index', 'index size', 'MB/GiB', statSync(idx).size / 1e6 / (image / GIB))
  } finally {
    w.kill()
    await w.exited
  }
}

export const precopy: Benchmark = {
  id: 'precopy',
  title: 'pre-copy migration by content vs a full streamed migration, 250 MB/s link',
  skip: needsCriu,
  async run(ctx, d) {
    const pcts = ctx.quick ? QUICK_PCTS : PCTS
    d.params.link = `${RATE / 1e6} MB/s`
    d.params.dirty = pcts.map((p) => `${p} %`).join(', ')
    for (const pct of pcts) { d.rec.contender(FULL(pct), true); d.rec.contender(PRE(pct)) }
    for (let run = 0; run < ctx.runs; run++) for (const pct of pcts) await runPct(ctx, d, pct, run)
    const m = (name: string, key: string) => d.rec.median(name, key)
    for (const pct of pcts) {
      const dt = m(PRE(pct), 'downtime') / m(FULL(pct), 'downtime')
      const by = m(PRE(pct), 'bytes') / m(FULL(pct), 'bytes')
      d.ratios.push({ name: `${PRE(pct)} / full`, value: dt, of: 'downtime' })
      d.ratios.push({ name: `${PRE(pct)} / full`, value: by, of: 'final-round bytes' })
      if (pct === 1) {
        d.targets.push(target('pre-copy at 1 %: final-round bytes / full image', by, '<=', 0.03, 'x'))
        d.targets.push(target('pre-copy at 1 %: downtime / full migration', dt, '<=', 0.2, 'x'))
      }
      if (pct === 50) d.targets.push(target('pre-copy at 50 %: downtime / full migration', dt, '<=', 1.1, 'x'))
    }
  },
}
