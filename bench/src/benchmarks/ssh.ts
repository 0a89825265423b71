// 6. ssh between two hosts. Two network namespaces joined by a veth pair capped at 1 Gbit/s with
// tbf, a real sshd in the destination (scripts/lib/two-hosts.sh). The synthetic producer feeds
// K bytes of page data over the --stream protocol through img-split, whose shards are shard
// filters: `ssh dst 'cat > /dev/null'`, over 1, 2 and 4 connections. Baseline: the same capture
// over one plain TCP connection (bash's /dev/tcp into a counting receiver on the destination),
// i.e. the link without encryption. Throughput = page bytes / (first byte produced -> img-split
// exit), and img-split exits only once every filter has exited 0, so once every ssh has seen its
// remote `cat` finish. What limits each run is read from CPU time: each ssh client's CPU-s per
// wall second (1.0 = one core, ssh's cipher runs on one core per connection) and the busy
// fraction of the whole machine (client and sshd encrypt and decrypt on the same cores).
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { twoHostsUp, type TwoHosts } from '@criu-pipes/e2e/harness'
import type { Benchmark, Ctx, Draft } from '../context.js'
import { binPath, q, readUsage, runGroup, seconds, startGroup } from '../lib/procs.js'
import { GB, MIB, formatSize } from '../lib/units.js'
import { producerCmd, readProduced } from './shards.js'

const RATE = '1gbit'
const LINK_BYTES_PER_S = 1e9 / 8
const CONNECTIONS = [1, 2, 4]
// Page data per run: 4 s on the capped link (quick: a quarter second).
const FULL_BYTES = 512 * MIB
const QUICK_BYTES = 32 * MIB
// A connection whose ssh client spends this share of a core on the run is cipher-bound; the link
// is the limit at this share of its rate; the machine is the limit at this busy share.
const CORE_BOUND = 0.85
const LINK_BOUND = 0.9
const MACHINE_BOUND = 0.9
const TCP_PORT = 5001
// One run moves at most 512 MiB over the capped link (about 4.3 s); far beyond that, it is stuck.
const RUN_TIMEOUT_MS = 120_000
const TCP = 'plain TCP, 1 connection'
const SSH = (n: number) => `ssh, ${n} connection${n > 1 ? 's' : ''}`

/** Busy and total CPU time of the machine so far (/proc/stat, in clock ticks). */
function cpuTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const total = f.reduce((a, b) => a + b, 0)
  const idle = (f[3] ?? 0) + (f[4] ?? 0) // idle + iowait
  return { busy: total - idle, total }
}

async function runOne(ctx: Ctx, d: Draft, hosts: TwoHosts, run: number, mode: 'tcp' | number): Promise<void> {
  const n = mode === 'tcp' ? 1 : mode
  const name = mode === 'tcp' ? TCP : SSH(mode)
  const dir = ctx.work.sub(`ssh-${mode}`)
  const images = join(dir, 'images')
  const bytes = ctx.quick ? QUICK_BYTES : FULL_BYTES
  const prod = join(dir, 'producer.out')
  const usage = (i: number) => join(dir, `filter${i}.usage`)
  const sink = mode === 'tcp'
    ? `bash -c 'exec cat > /dev/tcp/${hosts.dstAddr}/${TCP_PORT}'`
    : `ssh -F ${q(hosts.sshConfig)} dst 'cat > /dev/null'`
  const filter = `${q(ctx.natives.measure)} ${q(dir)}/filter$SHARD.usage ${sink}`
  writeFileSync(join(dir, 'filter'), filter)
  const receiver = mode === 'tcp' ? await startReceiver(hosts, dir) : undefined
  const before = cpuTicks()
  try {
    await runGroup(
      `${hosts.onSrc} bash -c ${q(`{ node ${q(binPath('img-split'))} -D ${q(images)} -n ${n} --filter "$(cat ${q(join(dir, 'filter'))})" ` +
        `-p 9 9>/dev/null & split=$!; } && ${producerCmd(ctx.natives, join(images, 'streamer-capture.sock'), bytes, prod)} && wait $split`)}`,
      name, { timeoutMs: RUN_TIMEOUT_MS })
    await receiver?.done
  } finally {
    receiver?.stop()
  }
  const after = cpuTicks()
  const p = readProduced(prod)
  const ends = [...Array(n).keys()].map((i) => readUsage(usage(i)))
  const wallS = seconds(p.startNs, ends.reduce((m, u) => (u.endNs > m ? u.endNs : m), 0n))
  d.rec.add(name, run, 'mbps', 'throughput', 'MB/s', bytes / 1e6 / wallS)
  d.rec.add(name, run, 'link', 'share of the 1 Gbit/s link', 'x', bytes / wallS / LINK_BYTES_PER_S)
  d.rec.add(name, run, 'core', 'busiest client, CPU per wall second', 'cores', Math.max(...ends.map((u) => u.cpuS / u.wallS)))
  d.rec.add(name, run, 'clientcpu', 'client CPU per GB (all connections)', 'CPU-s/GB', ends.reduce((s, u) => s + u.cpuS, 0) / (bytes / GB))
  d.rec.add(name, run, 'busy', 'machine busy', `x of ${cpus().length} cores`, (after.busy - before.busy) / (after.total - before.total))
}

/** A receiver on the destination for the plain-TCP baseline: reads one connection to its end. */
async function startReceiver(hosts: TwoHosts, dir: string): Promise<{ done: Promise<void>; stop(): void }> {
  const ready = join(dir, 'receiver.ready')
  const js = `const s = require('net').createServer(c => { c.resume(); c.on('end', () => { s.close() }) });` +
    `s.listen(${TCP_PORT}, '${hosts.dstAddr}', () => require('fs').writeFileSync('${ready}', ''))`
  const g = await startGroup(`nsenter --net=/run/netns/${hosts.dstNs} node -e ${q(js)}`)
  for (let i = 0; i < 200; i++) {
    try { readFileSync(ready); break } catch { await new Promise((r) => setTimeout(r, 25)) }
  }
  const done = g.done.then((r) => { if (r.exitCode !== 0) throw new Error(`TCP receiver failed (exit ${r.exitCode}): ${r.stderr}`) })
  done.catch(() => {}) // awaited by the caller after a successful run; a failed run stops it instead
  return { done, stop: () => g.kill() }
}

function limitOf(d: Draft, name: string, connections: number): string {
  const link = d.rec.median(name, 'link')
  const core = d.rec.median(name, 'core')
  const busy = d.rec.median(name, 'busy')
  if (link >= LINK_BOUND) return `${name}: the link (${(link * 100).toFixed(0)} % of 1 Gbit/s)`
  if (core >= CORE_BOUND) return `${name}: ssh's cipher, one core per connection (the busiest client used ${core.toFixed(2)} of a core)`
  if (busy >= MACHINE_BOUND) {
    return `${name}: the machine's ${cpus().length} cores (${(busy * 100).toFixed(0)} % busy: ${connections} client(s) and as many sshd encrypt and decrypt on the same cores as img-split and the producer)`
  }
  return `${name}: none of link, cipher core or machine is saturated (link ${(link * 100).toFixed(0)} %, busiest client ${core.toFixed(2)} core, ` +
    `machine ${(busy * 100).toFixed(0)} % busy): the connection set-up (see the fact) weighs on a short run`
}

/** Wall time of `ssh dst true`: key exchange and authentication, paid once per connection. */
async function setupSeconds(hosts: TwoHosts): Promise<number> {
  const t0 = performance.now()
  await runGroup(`${hosts.sshDst} true`, 'ssh dst true')
  return (performance.now() - t0) / 1000
}

export const ssh: Benchmark = {
  id: 'ssh',
  title: 'ssh between two hosts: img-split shards over 1, 2 and 4 ssh connections on a 1 Gbit/s tbf link',
  skip() {
    if (process.getuid?.() !== 0) return 'needs root (network namespaces)'
    try { readFileSync('/usr/sbin/sshd') } catch { return 'no /usr/sbin/sshd (scripts/setup.sh installs openssh-server)' }
    return undefined
  },
  async run(ctx, d) {
    const bytes = ctx.quick ? QUICK_BYTES : FULL_BYTES
    d.params.pages = formatSize(bytes)
    d.params.link = `veth, tbf ${RATE}`
    d.params.connections = CONNECTIONS.join('/')
    const hosts = await twoHostsUp(undefined, { rate: RATE })
    try {
      d.facts.setup = { label: 'ssh connection set-up (ssh dst true)', unit: 's', value: await setupSeconds(hosts) }
      d.rec.contender(TCP, true)
      for (const n of CONNECTIONS) d.rec.contender(SSH(n))
      for (let run = 0; run < ctx.runs; run++) {
        ctx.log(`ssh: run ${run + 1}/${ctx.runs}`)
        await runOne(ctx, d, hosts, run, 'tcp')
        for (const n of CONNECTIONS) await runOne(ctx, d, hosts, run, n)
      }
    } finally {
      await hosts.down()
    }
    for (const n of CONNECTIONS) {
      d.ratios.push({ name: `${SSH(n)} / ${TCP}`, value: d.rec.median(SSH(n), 'mbps') / d.rec.median(TCP, 'mbps'), of: 'throughput' })
    }
    d.notes.push(`what limits each: ${[limitOf(d, TCP, 1), ...CONNECTIONS.map((n) => limitOf(d, SSH(n), n))].join('; ')}`)
  },
}
