// 1. capture, synthetic. A C load generator speaks CRIU's --stream protocol and feeds K bytes of
// vmspliced page data (no copy on the producer side, like CRIU's page pipes) through img-split
// into 1, 2 and 4 shards, each drained by splice to /dev/null. Baseline: a C capture server that
// splices the same producer pipe straight to /dev/null with blocking 1 MiB splices (the physical
// limit; the targets are against it). For context, two more C servers: the same with img-split's
// loop structure (poll, FIONREAD, splice what is there), and a relay that splices into one shard
// pipe drained the same way (img-split's topology with one shard, without the framing).
// Throughput = page bytes / (last shard drained - first byte produced): img-split's startup is
// not in it (the producer connects once it listens); its CPU time (startup included) is.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Benchmark, Ctx, Draft } from '../context.js'
import { binPath, parseEndLine, q, readUsage, runGroup, seconds } from '../lib/procs.js'
import { GB, MIB, formatSize } from '../lib/units.js'
import { median } from '../lib/stats.js'
import { target } from '../report.js'
import { drainedShards, producerCmd, readProduced } from './shards.js'

const C_NULL = 'C splice -> /dev/null'
const C_POLL = 'C poll+splice -> /dev/null'
const C_RELAY = 'C relay -> 1 shard'
type CMode = 'null' | 'poll' | 'relay'
const C_NAME: Record<CMode, string> = { null: C_NULL, poll: C_POLL, relay: C_RELAY }
const SPLIT = (n: number) => `img-split ${n} shard${n > 1 ? 's' : ''}`
const SHARDS = [1, 2, 4]
const TARGET = 0.9

async function runC(ctx: Ctx, d: Draft, run: number, mode: CMode): Promise<void> {
  const relay = mode === 'relay'
  const dir = ctx.work.sub(`capture-c-${mode}`)
  const sock = join(dir, 'streamer-capture.sock')
  const bytes = ctx.sizes.synthetic
  const prod = join(dir, 'producer.out')
  const cap = join(dir, 'capture.out')
  const shards = drainedShards(ctx.natives, dir, 1)
  const server = `${q(ctx.natives['capture-c'])}${mode === 'poll' ? ' --poll' : ''} ${q(sock)}${relay ? ` 3 ${shards.redirs}` : ''} > ${q(cap)} 2>/dev/null`
  await runGroup(
    `${relay ? `${shards.start} && ` : ''}{ ${server} & srv=$!; } && ${producerCmd(ctx.natives, sock, bytes, prod)} && wait $srv` +
      `${relay ? ` && ${shards.wait}` : ''}`, C_NAME[mode])
  const p = readProduced(prod)
  const endNs = relay ? shards.result().endNs : parseEndLine(readFileSync(cap, 'utf8'), 'C capture').endNs
  d.rec.add(C_NAME[mode], run, 'gbps', 'throughput', 'GB/s', bytes / GB / seconds(p.startNs, endNs))
}

async function runSplit(ctx: Ctx, d: Draft, run: number, n: number): Promise<void> {
  const dir = ctx.work.sub(`capture-split${n}`)
  const images = join(dir, 'images')
  const sock = join(images, 'streamer-capture.sock')
  const bytes = ctx.sizes.synthetic
  const prod = join(dir, 'producer.out')
  const usage = join(dir, 'img-split.usage')
  const shards = drainedShards(ctx.natives, dir, n)
  await runGroup(
    `${shards.start} && { ${q(ctx.natives.measure)} ${q(usage)} node ${q(binPath('img-split'))} -D ${q(images)} -s ${shards.list} ` +
      `-p 9 9>${q(join(dir, 'progress'))} ${shards.redirs} & split=$!; } && ` +
      `${producerCmd(ctx.natives, sock, bytes, prod)} && wait $split && ${shards.wait}`, `img-split ${n} shards`)
  const p = readProduced(prod)
  const drained = shards.result()
  if (drained.bytes < bytes) throw new Error(`img-split ${n} shards: the drains got ${drained.bytes} bytes, fewer than the ${bytes} produced`)
  const u = readUsage(usage)
  const name = SPLIT(n)
  d.rec.add(name, run, 'gbps', 'throughput', 'GB/s', bytes / GB / seconds(p.startNs, drained.endNs))
  d.rec.add(name, run, 'cpu', 'img-split CPU', 'CPU-s/GB', u.cpuS / (bytes / GB))
  d.rec.add(name, run, 'rss', 'img-split peak RSS', 'MiB', u.maxRss / MIB)
}

/** img-split's CPU time for a capture with no page data: its fixed (startup) cost. */
export async function emptyCaptureCpu(ctx: Ctx): Promise<number> {
  const dir = ctx.work.sub('capture-empty')
  const images = join(dir, 'images')
  const usage = join(dir, 'img-split.usage')
  const shards = drainedShards(ctx.natives, dir, 1)
  await runGroup(
    `${shards.start} && { ${q(ctx.natives.measure)} ${q(usage)} node ${q(binPath('img-split'))} -D ${q(images)} -s 3 -p 9 9>/dev/null ` +
      `${shards.redirs} & split=$!; } && ${producerCmd(ctx.natives, join(images, 'streamer-capture.sock'), 0, join(dir, 'producer.out'))} ` +
      `&& wait $split && ${shards.wait}`, 'img-split, empty capture')
  return readUsage(usage).cpuS
}

export const capture: Benchmark = {
  id: 'capture',
  title: 'capture, synthetic: vmspliced pages over the --stream protocol through img-split, shards drained by splice',
  async run(ctx, d) {
    d.params.pages = formatSize(ctx.sizes.synthetic)
    d.params.shards = SHARDS.join('/')
    for (const m of ['null', 'poll', 'relay'] as const) d.rec.contender(C_NAME[m], true)
    for (const n of SHARDS) d.rec.contender(SPLIT(n))
    for (let run = 0; run < ctx.runs; run++) {
      ctx.log(`capture: run ${run + 1}/${ctx.runs}`)
      await runC(ctx, d, run, 'null')
      await runSplit(ctx, d, run, 1)
      await runC(ctx, d, run, 'poll')
      await runSplit(ctx, d, run, 2)
      await runC(ctx, d, run, 'relay')
      await runSplit(ctx, d, run, 4)
    }
    const fixed: number[] = []
    for (let i = 0; i < 3; i++) fixed.push(await emptyCaptureCpu(ctx))
    d.facts.fixed_cpu = { label: 'img-split CPU for an empty capture (startup; included above)', unit: 'CPU-s', value: median(fixed) }
    const c = d.rec.median(C_NULL, 'gbps')
    for (const n of SHARDS) {
      const r = d.rec.median(SPLIT(n), 'gbps') / c
      d.ratios.push({ name: `${SPLIT(n)} / C splice`, value: r, of: 'throughput' })
      d.targets.push(target(`${SPLIT(n)} vs C splice`, r, '>=', TARGET, 'x',
        n === 1 ? undefined : 'no worse than the 1-shard target'))
    }
    d.ratios.push({ name: `${SPLIT(1)} / ${C_POLL}`, value: d.rec.median(SPLIT(1), 'gbps') / d.rec.median(C_POLL, 'gbps'), of: 'throughput, same loop' })
    const relay = d.rec.median(C_RELAY, 'gbps')
    for (const n of SHARDS) {
      const r = d.rec.median(SPLIT(n), 'gbps') / relay
      d.ratios.push({ name: `${SPLIT(n)} / ${C_RELAY}`, value: r, of: n === 1 ? 'throughput, same topology' : 'throughput' })
      // issue 7: sharding (the framing and the balancing) must cost next to nothing
      if (n > 1) d.targets.push(target(`${SPLIT(n)} vs ${C_RELAY}`, r, '>=', TARGET, 'x', 'the uncompressed path keeps its speed'))
    }
  },
}
