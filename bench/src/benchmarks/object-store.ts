// 6. object store, real CRIU and a real Ceph RADOS Gateway (one node, bluestore, on 127.0.0.1:
// test/lib/ceph-rgw.ts), Debian's awscli v2 as the client. A fresh memhog per run goes up and
// comes back down each way:
//   old way:  `criu dump -D` into the tmpfs, then `aws s3 cp --recursive` of the directory;
//             back: `aws s3 cp --recursive` into the tmpfs, then `criu restore -D`;
//   filters:  `criu dump --stream` through `img-split -n N --filter 'aws s3 cp - s3://B/P/$SHARD'`
//             (img-split as the post-dump action script, so the dump ends only when every upload
//             has been committed); back: `img-buffer -n N --filter 'aws s3 cp s3://B/P/$SHARD -'`
//             and `criu restore --stream`; N = 1, 2, 4.
// Up: from criu's fork to the last object committed (old: the recursive copy's exit; filters:
// img-split's exit, which waits for every filter to exit 0). Down: from the first download's
// start (old: the recursive copy's fork; filters: img-buffer's fork) to the moment CRIU logs the
// tasks resumed. CPU: criu's (with its action script), img-split/img-buffer's, the clients'
// (each filter runs under measure), and the Ceph daemons' (their /proc stat before and after),
// so the report can say what each is bound by: on 2 cores CRIU, the S3 clients and Ceph share
// the CPU.
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { cephInstalled, cephRgwStart, type CephRgw } from '@criu-pipes/e2e/harness'
import type { Benchmark, Ctx, Draft } from '../context.js'
import { needsCriu } from '../context.js'
import { runCriuMeasured, startRestoreMeasured } from '../lib/criu.js'
import { binPath, processCpuS, q, readStart, readUsage, seconds, startGroup, tail } from '../lib/procs.js'
import { GIB, formatSize } from '../lib/units.js'
import { waitForLine } from '../lib/wait.js'
import { deadGroup, expectVerified, freshMemhog, npagesOf, restored, watch } from './common.js'

const OLD = 'criu dump -D + aws s3 cp --recursive'
const FILTER = (n: number) => `img-split/img-buffer -n ${n} --filter aws`
const SHARDS = [1, 2, 4]
// Every client call gets a deadline: a full Ceph store makes uploads hang instead of failing.
const CLIENT_TIMEOUT_S = 900
const AWS = '/usr/bin/aws' // Debian's awscli v2; `aws` on PATH may be another one
const HOOK = binPath('img-split') // img-split as CRIU's action script

/** Capacity for what one run writes at most at once (the objects are deleted after each
 *  contender; rgw's GC frees them later), with room for the GC's lag. */
function storeGiB(ctx: Ctx): number {
  return Math.max(4, Math.ceil((ctx.sizes.workload * 6) / GIB))
}

function aws(store: CephRgw): string {
  return `timeout ${CLIENT_TIMEOUT_S} ${AWS} --endpoint-url ${store.endpoint} --cli-connect-timeout 10 --cli-read-timeout 60`
}

/** `export K=V ...;` of the store's client settings, for a bash command line. */
function envPrefix(store: CephRgw): string {
  return `export ${Object.entries(store.env).filter(([k]) => k.startsWith('AWS_')).map(([k, v]) => `${k}=${q(v)}`).join(' ')}; `
}

/** CPU seconds so far of the Ceph daemons (mon, OSD, rgw) of this store. */
function cephCpu(store: CephRgw): number {
  let cpu = 0
  for (const name of ['mon.a', 'osd.0', 'client.rgw.criu-pipes']) {
    // a daemon that is gone shows in the run's failure, not here
    try { cpu += processCpuS(readFileSync(join(store.dir, 'run', `${name}.pid`), 'utf8').trim()) ?? 0 } catch { /* no pid file */ }
  }
  return cpu
}

/** CPU of the N filters, each run under measure (their rusage is not img-split's: it does not
 *  reap them itself, so wait4 would not count them). */
function filterCpu(dir: string, way: 'up' | 'down', n: number): number {
  let cpu = 0
  for (let i = 0; i < n; i++) cpu += readUsage(join(dir, `${way}-${i}.usage`)).cpuS
  return cpu
}

async function run(cmd: string, what: string, usage: string): Promise<void> {
  const r = await (await startGroup(cmd, { timeoutMs: CLIENT_TIMEOUT_S * 1000 })).done
  if (r.exitCode !== 0) throw new Error(`${what} failed (exit ${r.exitCode}): ${tail(r.stderr || r.stdout)} (usage ${usage})`)
}

async function removeObjects(store: CephRgw, url: string): Promise<void> {
  await run(`${envPrefix(store)}${aws(store)} s3 rm --only-show-errors --recursive ${q(`${url}/`)}`, 'aws s3 rm', '')
}

async function oldWay(ctx: Ctx, d: Draft, store: CephRgw, runNo: number): Promise<void> {
  const url = `s3://${store.bucket}/old-${runNo}`
  const w = await freshMemhog(ctx, 'os-old-workload')
  const dir = ctx.work.sub('os-old')
  const images = ctx.work.sub('os-old-images', true)
  let ceph = cephCpu(store)
  const c = await runCriuMeasured(ctx.natives, ['dump', '-t', String(w.pid), '-D', images], dir, 'dump').catch((e) => { w.kill(); throw e })
  await w.exited
  const upUsage = join(dir, 'upload.usage')
  await run(`${envPrefix(store)}${q(ctx.natives.measure)} ${q(upUsage)} ${aws(store)} s3 cp --only-show-errors --recursive ` +
    `${q(images)} ${q(`${url}/`)}`, 'aws s3 cp --recursive (up)', upUsage)
  const up = readUsage(upUsage)
  d.rec.add(OLD, runNo, 'up', 'up: dump start to last object', 's', seconds(c.usage.startNs, up.endNs))
  d.rec.add(OLD, runNo, 'up_criu_cpu', 'up CPU criu', 's', c.usage.cpuS)
  d.rec.add(OLD, runNo, 'up_client_cpu', 'up CPU clients', 's', up.cpuS)
  d.rec.add(OLD, runNo, 'up_ceph_cpu', 'up CPU Ceph', 's', cephCpu(store) - ceph)

  const back = ctx.work.sub('os-old-back', true)
  const downUsage = join(dir, 'download.usage')
  ceph = cephCpu(store)
  await run(`${envPrefix(store)}${q(ctx.natives.measure)} ${q(downUsage)} ${aws(store)} s3 cp --only-show-errors --recursive ` +
    `${q(`${url}/`)} ${q(back)}`, 'aws s3 cp --recursive (down)', downUsage)
  const down = readUsage(downUsage)
  const r = await startRestoreMeasured(ctx.natives, ['-D', back], dir, 'restore')
  try {
    d.rec.add(OLD, runNo, 'down', 'down: download start to running', 's', seconds(down.startNs, r.runningNs))
    d.rec.add(OLD, runNo, 'down_client_cpu', 'down CPU clients', 's', down.cpuS)
    d.rec.add(OLD, runNo, 'down_ceph_cpu', 'down CPU Ceph', 's', cephCpu(store) - ceph)
    expectVerified(await restored(r.pid, w.logPath).verify(120_000), npagesOf(ctx))
  } finally {
    const u = await r.kill()
    d.rec.add(OLD, runNo, 'down_criu_cpu', 'down CPU criu', 's', u.cpuS)
    await removeObjects(store, url)
  }
}

async function filtered(ctx: Ctx, d: Draft, store: CephRgw, runNo: number, n: number): Promise<void> {
  const name = FILTER(n)
  const url = `s3://${store.bucket}/filter${n}-${runNo}`
  const w = await freshMemhog(ctx, `os-filter${n}-workload`)
  const dir = ctx.work.sub(`os-filter${n}`)
  const images = ctx.work.sub(`os-filter${n}-images`, true)
  const usage = join(dir, 'img-split.usage')
  const progress = join(dir, 'split.progress')
  const errFile = join(dir, 'img-split.err')
  const up = `${q(ctx.natives.measure)} ${dir}/up-$SHARD.usage ${aws(store)} s3 cp --only-show-errors - ${url}/$SHARD`
  let ceph = cephCpu(store)
  const g = await startGroup(`${envPrefix(store)}${q(ctx.natives.measure)} ${q(usage)} node ${q(binPath('img-split'))} ` +
    `-D ${q(images)} -n ${n} --filter ${q(up)} -p 9 9>${q(progress)} 2>${q(errFile)}`)
  const state = watch(g, errFile)
  try {
    await waitForLine(progress, /^socket-init$/m, 'img-split to listen', { dead: () => deadGroup(state) })
    const c = await runCriuMeasured(ctx.natives, ['dump', '-t', String(w.pid), '-D', images, '--stream', '--action-script', HOOK], dir, 'dump')
    await w.exited
    const r = await g.done
    if (r.exitCode !== 0) throw new Error(`img-split -n ${n} --filter: exit ${r.exitCode}: ${tail(r.stderr)}`)
    const u = readUsage(usage)
    d.rec.add(name, runNo, 'up', 'up: dump start to last object', 's', seconds(c.usage.startNs, u.endNs))
    d.rec.add(name, runNo, 'up_criu_cpu', 'up CPU criu', 's', c.usage.cpuS)
    d.rec.add(name, runNo, 'up_client_cpu', 'up CPU clients', 's', filterCpu(dir, 'up', n))
    d.rec.add(name, runNo, 'up_streamer_cpu', 'up CPU img-split', 's', u.cpuS)
    d.rec.add(name, runNo, 'up_ceph_cpu', 'up CPU Ceph', 's', cephCpu(store) - ceph)
  } catch (e) {
    w.kill()
    throw e
  } finally {
    g.kill()
    await g.done
  }

  const serve = ctx.work.sub(`os-filter${n}-serve`, true)
  const busage = join(dir, 'img-buffer.usage')
  const bprogress = join(dir, 'buffer.progress')
  const berr = join(dir, 'img-buffer.err')
  const down = `${q(ctx.natives.measure)} ${dir}/down-$SHARD.usage ${aws(store)} s3 cp --only-show-errors ${url}/$SHARD -`
  ceph = cephCpu(store)
  const b = await startGroup(`${envPrefix(store)}${q(ctx.natives.measure)} ${q(busage)} node ${q(binPath('img-buffer'))} ` +
    `-D ${q(serve)} -n ${n} --filter ${q(down)} -p 9 9>${q(bprogress)} 2>${q(berr)}`)
  const bstate = watch(b, berr)
  try {
    await waitForLine(bprogress, /^socket-init$/m, 'img-buffer to serve', { dead: () => deadGroup(bstate), timeoutMs: 600_000 })
    const r = await startRestoreMeasured(ctx.natives, ['-D', serve, '--stream'], dir, 'restore')
    try {
      d.rec.add(name, runNo, 'down', 'down: download start to running', 's', seconds(readStart(busage)!, r.runningNs))
      expectVerified(await restored(r.pid, w.logPath).verify(120_000), npagesOf(ctx))
    } finally {
      const u = await r.kill()
      d.rec.add(name, runNo, 'down_criu_cpu', 'down CPU criu', 's', u.cpuS)
    }
    const done = await b.done
    if (done.exitCode !== 0) throw new Error(`img-buffer -n ${n} --filter: exit ${done.exitCode}: ${tail(done.stderr)}`)
    d.rec.add(name, runNo, 'down_client_cpu', 'down CPU clients', 's', filterCpu(dir, 'down', n))
    d.rec.add(name, runNo, 'down_streamer_cpu', 'down CPU img-buffer', 's', readUsage(busage).cpuS)
    d.rec.add(name, runNo, 'down_ceph_cpu', 'down CPU Ceph', 's', cephCpu(store) - ceph)
  } finally {
    b.kill()
    await b.done
    await removeObjects(store, url)
  }
}

/** One line per contender and direction: wall, and how much of the machine's CPU each part took. */
function limits(d: Draft, names: string[], cores: number): void {
  for (const name of names) {
    for (const dir of ['up', 'down'] as const) {
      const wall = d.rec.median(name, dir)
      const part = (k: string) => d.rec.median(name, `${dir}_${k}`)
      const [criu, client, ceph] = [part('criu_cpu'), part('client_cpu'), part('ceph_cpu')]
      const streamer = name === OLD ? 0 : part('streamer_cpu')
      const busy = (criu + streamer + client + ceph) / (wall * cores)
      const streamerPart = name === OLD ? '' : `${dir === 'up' ? 'img-split' : 'img-buffer'} ${streamer.toFixed(2)} s, `
      d.notes.push(`${name}, ${dir}: ${wall.toFixed(2)} s; CPU criu ${criu.toFixed(2)} s, ${streamerPart}clients ${client.toFixed(2)} s, ` +
        `Ceph ${ceph.toFixed(2)} s = ${(busy * 100).toFixed(0)} % of ${cores} cores` +
        `${busy > 0.8 ? ' (CPU-bound: the parts share the cores)' : ''}`)
    }
  }
}

export const objectStore: Benchmark = {
  id: 'object-store',
  title: 'object store, real CRIU and Ceph RGW: N parallel S3 uploaders/downloaders as shard filters vs criu dump -D + aws s3 cp --recursive',
  skip: (ctx) => needsCriu(ctx) ?? (cephInstalled() ? undefined : 'Ceph RGW / awscli not installed (scripts/install-ceph.sh)'),
  async run(ctx, d) {
    d.params.workload = `memhog ${formatSize(ctx.sizes.workload)}`
    d.params.store = 'Ceph 16 RGW, one bluestore OSD, 127.0.0.1; awscli v2'
    d.rec.contender(OLD, true)
    for (const n of SHARDS) d.rec.contender(FILTER(n))
    ctx.log(`object-store: starting Ceph RGW (${storeGiB(ctx)} GiB)`)
    const store = await cephRgwStart({ sizeGiB: storeGiB(ctx) })
    try {
      for (let runNo = 0; runNo < ctx.runs; runNo++) {
        ctx.log(`object-store: run ${runNo + 1}/${ctx.runs}`)
        await oldWay(ctx, d, store, runNo)
        for (const n of SHARDS) await filtered(ctx, d, store, runNo, n)
      }
    } finally {
      await store.stop()
    }
    for (const dir of ['up', 'down'] as const) {
      const base = d.rec.median(OLD, dir)
      for (const n of SHARDS) {
        d.ratios.push({ name: `${FILTER(n)} / ${OLD}, ${dir}`, value: d.rec.median(FILTER(n), dir) / base, of: dir === 'up' ? 'dump start to last object committed' : 'download start to running' })
      }
    }
    limits(d, [OLD, ...SHARDS.map(FILTER)], cpus().length)
  },
}
