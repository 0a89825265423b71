// Freeze to disk (issue 15, item 1): a checkpoint onto a local disk, durable when it is over.
// Contenders, interleaved, each on a fresh mixed memhog of the workload size, into a directory
// on the disk (not the bench's tmpfs):
//   - `criu dump -D DIR`, then `sync` of every file and of DIR (fsync each: what it takes for
//     CRIU's own image to be durable); time = dump wall + sync wall;
//   - `criu dump --stream --action-script img-split` through img-split into 2 shard files in
//     DIR; the post-dump hook answers once both are fsynced, and the process stays frozen until
//     then; time = dump wall (img-split is listening before criu starts).
// Target: img-split <= 1.10 x CRIU + sync.
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import type { Benchmark, Ctx, Draft } from '../context.js'
import { needsCriu } from '../context.js'
import { runCriuMeasured } from '../lib/criu.js'
import { binPath, q, seconds, startGroup, tail } from '../lib/procs.js'
import { formatSize } from '../lib/units.js'
import { waitForLine } from '../lib/wait.js'
import { target } from '../report.js'
import { deadGroup, freshMemhog, watch } from './common.js'

const PLAIN = 'criu dump -D + sync (fsync every file and DIR)'
const SPLIT = 'dump --stream, img-split -> 2 shard files (hook waits for fsync)'
// A directory on the root file system (a disk here): the bench's own work dir is a tmpfs.
const DISK_PARENT = '/var/tmp'
const TARGET = 1.1

async function plain(ctx: Ctx, d: Draft, run: number, disk: string): Promise<void> {
  const w = await freshMemhog(ctx, 'freeze-workload', 'mixed')
  const images = join(disk, `plain-${run}`)
  const logs = ctx.work.sub(`freeze-plain-logs-${run}`)
  mkdirSync(images, { mode: 0o700 })
  try {
    const r = await runCriuMeasured(ctx.natives, ['dump', '-t', String(w.pid), '-D', images], logs, 'dump')
    await w.exited
    const t0 = process.hrtime.bigint()
    // coreutils sync with arguments fsyncs each one (files, then the directory's entries).
    await execa('sync', [...readdirSync(images).map(n => join(images, n)), images])
    const synced = process.hrtime.bigint()
    d.rec.add(PLAIN, run, 'wall', 'dump + fsync wall time', 's', r.usage.wallS + seconds(t0, synced))
    d.rec.add(PLAIN, run, 'sync', 'fsync after the dump', 's', seconds(t0, synced))
  } catch (e) {
    w.kill()
    throw e
  } finally {
    rmSync(images, { recursive: true, force: true })
  }
}

async function split(ctx: Ctx, d: Draft, run: number, disk: string): Promise<void> {
  const w = await freshMemhog(ctx, 'freeze-workload', 'mixed')
  const dir = ctx.work.sub(`freeze-split-${run}`)
  const images = ctx.work.sub(`freeze-split-images-${run}`, true)
  const shards = [join(disk, `s0-${run}`), join(disk, `s1-${run}`)]
  const progress = join(dir, 'progress')
  const errFile = join(dir, 'img-split.err')
  const g = await startGroup(`node ${q(binPath('img-split'))} -D ${q(images)} -s 3,4 -p 9 9>${q(progress)} ` +
    `3>${q(shards[0]!)} 4>${q(shards[1]!)} 2>${q(errFile)}`)
  const state = watch(g, errFile)
  try {
    await waitForLine(progress, /^socket-init$/m, 'img-split to listen', { dead: () => deadGroup(state) })
    const c = await runCriuMeasured(ctx.natives,
      ['dump', '-t', String(w.pid), '-D', images, '--stream', '--action-script', binPath('img-split')], dir, 'dump')
    await w.exited
    const r = await g.done
    if (r.exitCode !== 0) throw new Error(`img-split: exit ${r.exitCode}: ${tail(r.stderr)}`)
    d.rec.add(SPLIT, run, 'wall', 'dump wall time (durable at the end)', 's', c.usage.wallS)
  } catch (e) {
    w.kill()
    throw e
  } finally {
    g.kill()
    await g.done
    for (const s of shards) rmSync(s, { force: true })
  }
}

export const freezeDisk: Benchmark = {
  id: 'freeze-disk',
  title: 'freeze to disk: img-split into 2 shard files (durable at the hook) vs criu dump -D + fsync of every file',
  skip: needsCriu,
  async run(ctx, d) {
    d.params.workload = `memhog ${formatSize(ctx.sizes.workload)}, mixed memory`
    d.params.disk = DISK_PARENT
    d.rec.contender(PLAIN, true)
    d.rec.contender(SPLIT)
    const disk = mkdtempSync(join(DISK_PARENT, 'criu-pipes-freeze-'))
    try {
      for (let run = 0; run < ctx.runs; run++) {
        ctx.log(`freeze-disk: run ${run + 1}/${ctx.runs}`)
        await plain(ctx, d, run, disk)
        await split(ctx, d, run, disk)
      }
    } finally {
      rmSync(disk, { recursive: true, force: true })
    }
    const r = d.rec.median(SPLIT, 'wall') / d.rec.median(PLAIN, 'wall')
    d.ratios.push({ name: `${SPLIT} / ${PLAIN}`, value: r, of: 'wall time to a durable image' })
    d.targets.push(target('img-split 2 shard files vs criu dump -D + fsync', r, '<=', TARGET, 'x'))
  },
}
