// 3. restore, real CRIU. One memhog is dumped once with `criu dump --stream` through img-split
// into a shard file on tmpfs, and that shard is extracted with `img-join -D` into a tmpfs
// directory: the same image both ways. Then, alternately, `criu restore -D <tmpfs dir>` and
// img-buffer reading the shard file + `criu restore --stream`.
// Time to running: from img-buffer's fork (for -D: from criu's fork) to the moment CRIU logs
// that the tasks were resumed. Every restored workload verifies all its pages before it is killed.
import { rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Benchmark, Ctx, Draft } from '../context.js'
import { needsCriu } from '../context.js'
import { runCriuMeasured, startRestoreMeasured } from '../lib/criu.js'
import { bin, binPath, q, readStart, readUsage, runGroup, seconds, startGroup, tail, type Usage } from '../lib/procs.js'
import { GB, MIB, formatSize } from '../lib/units.js'
import { readOr, waitForLine } from '../lib/wait.js'
import { target } from '../report.js'
import { deadGroup, expectVerified, freshMemhog, npagesOf, restored, watch } from './common.js'

const PLAIN = 'criu restore -D tmpfs'
const BUFFER = 'img-buffer + restore --stream'

interface Image { shard: string; dir: string; bytes: number; logPath: string }

async function makeImage(ctx: Ctx): Promise<Image> {
  const w = await freshMemhog(ctx, 'restore-workload')
  const dir = ctx.work.sub('restore-setup')
  const ram = ctx.work.sub('restore-image', true)
  const images = join(dir, 'capture')
  const shard = join(ram, 'shard0')
  const progress = join(dir, 'progress')
  const g = await startGroup(`${bin('img-split')} -D ${q(images)} -p 9 9>${q(progress)} > ${q(shard)}`)
  const state = watch(g)
  try {
    await waitForLine(progress, /^socket-init$/m, 'img-split to listen', { dead: () => deadGroup(state) })
    await runCriuMeasured(ctx.natives, ['dump', '-t', String(w.pid), '-D', images, '--stream'], dir, 'dump')
    await w.exited
    const r = await g.done
    if (r.exitCode !== 0) throw new Error(`img-split: exit ${r.exitCode}: ${tail(r.stderr)}`)
  } catch (e) {
    w.kill()
    throw e
  } finally {
    g.kill()
  }
  const extracted = join(ram, 'images')
  await runGroup(`${bin('img-join')} -D ${q(extracted)} < ${q(shard)}`, 'img-join -D')
  return { shard, dir: extracted, bytes: statSync(shard).size, logPath: w.logPath }
}

async function restorePlain(ctx: Ctx, d: Draft, run: number, img: Image): Promise<void> {
  const work = ctx.work.sub('restore-plain')
  const r = await startRestoreMeasured(ctx.natives, ['-D', img.dir], work, 'restore')
  try {
    d.rec.add(PLAIN, run, 'running', 'time to running', 's', seconds(r.startNs, r.runningNs))
    expectVerified(await restored(r.pid, img.logPath).verify(120_000), npagesOf(ctx))
  } finally {
    const u = await r.kill()
    d.rec.add(PLAIN, run, 'criu_cpu', 'criu CPU', 's', u.cpuS)
  }
}

export interface BufferedRestore {
  /** img-buffer's fork to the restored tasks resumed */
  runningS: number
  /** of it, criu restore's fork to resumed */
  criuPartS: number
  criuCpuS: number
  /** img-buffer's rusage */
  usage: Usage
}

/** img-buffer ended before serving: it refused the shards (for instance a codec it cannot read yet). */
export class NotServed extends Error {}

/**
 * img-buffer reading `shards` (files) + `criu restore --stream`, the restored workload verified
 * page by page before it is killed. `flags`: more img-buffer options (e.g. a key).
 */
export async function restoreBuffered(ctx: Ctx, shards: readonly string[], logPath: string, flags: readonly string[] = []): Promise<BufferedRestore> {
  const work = ctx.work.sub('restore-buffer')
  const serve = ctx.work.sub('restore-serve', true)
  const usage = join(work, 'img-buffer.usage')
  const progress = join(work, 'progress')
  const errFile = join(work, 'img-buffer.err')
  const fds = shards.map((_, i) => 3 + i)
  const g = await startGroup(`${q(ctx.natives.measure)} ${q(usage)} node ${q(binPath('img-buffer'))} -D ${q(serve)} ` +
    `-s ${fds.join(',')} ${shards.map((f, i) => `${fds[i]}<${q(f)}`).join(' ')} ${flags.map(q).join(' ')} -p 9 9>${q(progress)} 2>${q(errFile)}`)
  const state = watch(g, errFile)
  try {
    try {
      await waitForLine(progress, /^socket-init$/m, 'img-buffer to serve', { dead: () => deadGroup(state), timeoutMs: 300_000 })
    } catch (e) {
      if (!state.ended) throw e
      throw new NotServed(`img-buffer refused the shards: ${tail(readOr(errFile), 300).split('\n')[0] ?? ''}`)
    }
    const r = await startRestoreMeasured(ctx.natives, ['-D', serve, '--stream'], work, 'restore')
    let runningS: number
    let criuPartS: number
    let criuCpuS: number
    try {
      runningS = seconds(readStart(usage)!, r.runningNs)
      criuPartS = seconds(r.startNs, r.runningNs)
      expectVerified(await restored(r.pid, logPath).verify(120_000), npagesOf(ctx))
    } finally {
      criuCpuS = (await r.kill()).cpuS
    }
    const done = await g.done
    if (done.exitCode !== 0) throw new Error(`img-buffer: exit ${done.exitCode}: ${tail(done.stderr)}`)
    return { runningS, criuPartS, criuCpuS, usage: readUsage(usage) }
  } finally {
    g.kill()
    await g.done
    rmSync(serve, { recursive: true, force: true })
  }
}

async function restoreFromShard(ctx: Ctx, d: Draft, run: number, img: Image): Promise<void> {
  const r = await restoreBuffered(ctx, [img.shard], img.logPath)
  d.rec.add(BUFFER, run, 'running', 'time to running', 's', r.runningS)
  d.rec.add(BUFFER, run, 'criu_part', 'of it criu restore', 's', r.criuPartS)
  d.rec.add(BUFFER, run, 'criu_cpu', 'criu CPU', 's', r.criuCpuS)
  d.rec.add(BUFFER, run, 'cpu', 'img-buffer CPU', 'CPU-s/GB', r.usage.cpuS / (img.bytes / GB))
  d.rec.add(BUFFER, run, 'rss', 'img-buffer peak RSS', 'MiB', r.usage.maxRss / MIB)
  d.rec.add(BUFFER, run, 'rss_ratio', 'peak RSS / image', 'x', r.usage.maxRss / img.bytes)
}

export const restore: Benchmark = {
  id: 'restore',
  title: 'restore, real CRIU: criu restore -D tmpfs vs img-buffer serving a shard file to criu restore --stream',
  skip: needsCriu,
  async run(ctx, d) {
    d.params.workload = `memhog ${formatSize(ctx.sizes.workload)}`
    const img = await makeImage(ctx)
    d.facts.image = { label: 'image (shard file)', unit: 'MiB', value: img.bytes / MIB }
    d.rec.contender(PLAIN, true)
    d.rec.contender(BUFFER)
    for (let run = 0; run < ctx.runs; run++) {
      ctx.log(`restore: run ${run + 1}/${ctx.runs}`)
      await restorePlain(ctx, d, run, img)
      await restoreFromShard(ctx, d, run, img)
    }
    const r = d.rec.median(BUFFER, 'running') / d.rec.median(PLAIN, 'running')
    d.ratios.push({ name: `${BUFFER} / ${PLAIN}`, value: r, of: 'time to running' })
    d.targets.push(target('img-buffer start to running vs criu restore -D', r, '<=', 1.4, 'x'))
    d.targets.push(target('img-buffer CPU', d.rec.median(BUFFER, 'cpu'), '<=', 0.5, 'CPU-s/GB'))
    const imageMib = img.bytes / MIB
    d.targets.push(target('img-buffer peak RSS', d.rec.median(BUFFER, 'rss'), '<=', 1.05 * imageMib + 64, 'MiB',
      `1.05 x image ${imageMib.toFixed(0)} MiB + 64 MiB`))
    rmSync(img.dir, { recursive: true, force: true })
    rmSync(img.shard, { force: true })
  },
}
