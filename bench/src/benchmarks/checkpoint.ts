// 2. checkpoint, real CRIU. A memhog of the workload size is dumped with `criu dump -D` into a
// tmpfs directory (the old way), or with `criu dump --stream` through img-split into 1 and 2
// shard pipes drained to /dev/null. For context, `criu dump --stream` into the C capture server
// (bench/native/capture-c.c --poll) relaying into one shard pipe drained the same way: img-split's
// topology without its framing or its runtime, i.e. what CRIU and the pipes alone cost. Each run
// dumps a fresh workload (a dump kills it).
// Wall time: from criu's fork to the later of criu's exit and the last shard drained (for
// the tmpfs dump: criu's exit). img-split is started and listening before criu starts, as it
// would be in use; its CPU time (startup included) and peak RSS come from wait4's rusage.
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Benchmark, Ctx, Draft } from '../context.js'
import { needsCriu } from '../context.js'
import { runCriuMeasured } from '../lib/criu.js'
import { binPath, parseEndLine, q, readUsage, seconds, startGroup, tail } from '../lib/procs.js'
import { GB, MIB, formatSize } from '../lib/units.js'
import { waitForLine } from '../lib/wait.js'
import { target } from '../report.js'
import { deadGroup, freshMemhog, imageDirSize, watch } from './common.js'
import { drainedShards } from './shards.js'

const TMPFS = 'criu dump -D tmpfs'
const STREAM = (n: number) => `dump --stream, img-split ${n} shard${n > 1 ? 's' : ''}`
const STREAM_C = 'dump --stream, C relay -> 1 shard'
const SHARDS = [1, 2]

async function dumpToTmpfs(ctx: Ctx, d: Draft, run: number): Promise<void> {
  const w = await freshMemhog(ctx, 'ckpt-workload')
  const images = ctx.work.sub('ckpt-tmpfs', true)
  const logs = ctx.work.sub('ckpt-tmpfs-logs')
  try {
    const r = await runCriuMeasured(ctx.natives, ['dump', '-t', String(w.pid), '-D', images], logs, 'dump')
    await w.exited
    d.rec.add(TMPFS, run, 'wall', 'dump wall time', 's', r.usage.wallS)
    d.rec.add(TMPFS, run, 'criu_cpu', 'criu CPU', 's', r.usage.cpuS)
    d.facts.image ??= { label: 'image size (criu dump -D)', unit: 'MiB', value: imageDirSize(images) / MIB }
  } catch (e) {
    w.kill() // only on failure: after a dump its pid is free and may be someone else's
    throw e
  } finally {
    rmSync(images, { recursive: true, force: true })
  }
}

async function dumpStreamed(ctx: Ctx, d: Draft, run: number, n: number): Promise<void> {
  const w = await freshMemhog(ctx, 'ckpt-workload')
  const dir = ctx.work.sub(`ckpt-stream${n}`)
  const images = ctx.work.sub(`ckpt-stream${n}-images`, true)
  const usage = join(dir, 'img-split.usage')
  const progress = join(dir, 'progress')
  const errFile = join(dir, 'img-split.err')
  const shards = drainedShards(ctx.natives, dir, n)
  const g = await startGroup(
    `${shards.start} && { ${q(ctx.natives.measure)} ${q(usage)} node ${q(binPath('img-split'))} -D ${q(images)} ` +
      `-s ${shards.list} -p 9 9>${q(progress)} ${shards.redirs} 2>${q(errFile)} & split=$!; } && wait $split && ${shards.wait}`)
  const state = watch(g, errFile)
  try {
    await waitForLine(progress, /^socket-init$/m, 'img-split to listen', { dead: () => deadGroup(state) })
    const c = await runCriuMeasured(ctx.natives, ['dump', '-t', String(w.pid), '-D', images, '--stream'], dir, 'dump')
    await w.exited
    const r = await g.done
    if (r.exitCode !== 0) throw new Error(`img-split ${n} shards: exit ${r.exitCode}: ${tail(r.stderr)}`)
    const drained = shards.result()
    const end = drained.endNs > c.usage.endNs ? drained.endNs : c.usage.endNs
    const u = readUsage(usage)
    const name = STREAM(n)
    d.rec.add(name, run, 'wall', 'dump wall time', 's', seconds(c.usage.startNs, end))
    d.rec.add(name, run, 'criu_cpu', 'criu CPU', 's', c.usage.cpuS)
    d.rec.add(name, run, 'cpu', 'img-split CPU', 'CPU-s/GB', u.cpuS / (drained.bytes / GB))
    d.rec.add(name, run, 'rss', 'img-split peak RSS', 'MiB', u.maxRss / MIB)
    d.facts.stream ??= { label: 'shard bytes (img-split)', unit: 'MiB', value: drained.bytes / MIB }
  } catch (e) {
    w.kill()
    throw e
  } finally {
    g.kill()
    await g.done
  }
}

async function dumpStreamedC(ctx: Ctx, d: Draft, run: number): Promise<void> {
  const w = await freshMemhog(ctx, 'ckpt-workload')
  const dir = ctx.work.sub('ckpt-stream-c')
  const images = ctx.work.sub('ckpt-stream-c-images', true)
  const errFile = join(dir, 'capture-c.err')
  const outFile = join(dir, 'capture-c.out')
  const shards = drainedShards(ctx.natives, dir, 1)
  const g = await startGroup(`${shards.start} && { ${q(ctx.natives['capture-c'])} --poll ${q(join(images, 'streamer-capture.sock'))} 3 ` +
    `${shards.redirs} > ${q(outFile)} 2>${q(errFile)} & cap=$!; } && wait $cap && ${shards.wait}`)
  const state = watch(g)
  try {
    await waitForLine(errFile, /^socket-init$/m, 'the C capture server to listen', { dead: () => deadGroup(state) })
    const c = await runCriuMeasured(ctx.natives, ['dump', '-t', String(w.pid), '-D', images, '--stream'], dir, 'dump')
    await w.exited
    const r = await g.done
    if (r.exitCode !== 0) throw new Error(`capture-c: exit ${r.exitCode}: ${tail(readFileSync(errFile, 'utf8'))}`)
    parseEndLine(readFileSync(outFile, 'utf8'), 'capture-c')
    const { endNs } = shards.result()
    d.rec.add(STREAM_C, run, 'wall', 'dump wall time', 's', seconds(c.usage.startNs, endNs > c.usage.endNs ? endNs : c.usage.endNs))
    d.rec.add(STREAM_C, run, 'criu_cpu', 'criu CPU', 's', c.usage.cpuS)
  } catch (e) {
    w.kill()
    throw e
  } finally {
    g.kill()
    await g.done
  }
}

export const checkpoint: Benchmark = {
  id: 'checkpoint',
  title: 'checkpoint, real CRIU: criu dump -D tmpfs vs criu dump --stream through img-split to drained shards',
  skip: needsCriu,
  async run(ctx, d) {
    d.params.workload = `memhog ${formatSize(ctx.sizes.workload)}`
    d.rec.contender(TMPFS, true)
    d.rec.contender(STREAM_C, true)
    for (const n of SHARDS) d.rec.contender(STREAM(n))
    for (let run = 0; run < ctx.runs; run++) {
      ctx.log(`checkpoint: run ${run + 1}/${ctx.runs}`)
      await dumpToTmpfs(ctx, d, run)
      await dumpStreamed(ctx, d, run, 1)
      await dumpStreamedC(ctx, d, run)
      await dumpStreamed(ctx, d, run, 2)
    }
    const base = d.rec.median(TMPFS, 'wall')
    for (const n of SHARDS) {
      const name = STREAM(n)
      const r = d.rec.median(name, 'wall') / base
      d.ratios.push({ name: `${name} / ${TMPFS}`, value: r, of: 'dump wall time' })
      d.targets.push(target(`${name} wall vs ${TMPFS}`, r, '<=', 0.25, 'x'))
    }
    d.ratios.push({ name: `${STREAM(1)} / ${STREAM_C}`, value: d.rec.median(STREAM(1), 'wall') / d.rec.median(STREAM_C, 'wall'), of: 'dump wall time: what img-split adds' })
    d.ratios.push({ name: `${STREAM_C} / ${TMPFS}`, value: d.rec.median(STREAM_C, 'wall') / base, of: 'dump wall time: CRIU and the pipes alone' })
    for (const n of SHARDS) d.targets.push(target(`img-split CPU, ${n} shard${n > 1 ? 's' : ''}`, d.rec.median(STREAM(n), 'cpu'), '<=', 0.1, 'CPU-s/GB'))
    for (const n of SHARDS) d.targets.push(target(`img-split peak RSS, ${n} shard${n > 1 ? 's' : ''}`, d.rec.median(STREAM(n), 'rss'), '<', 80, 'MiB'))
  },
}
