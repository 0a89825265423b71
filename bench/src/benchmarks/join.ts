// 4. join/extract. The synthetic producer sends the join size of pages through img-split into 4
// shard files on tmpfs (setup, not timed). Then, alternately: img-join merging the 4 shards into
// one stream, and `cat` of the same 4 files (the baseline: a plain sequential copy), each to
// /dev/null, to a pipe drained by splice, and into tmpfs (img-join -D extracts the image files;
// cat writes one file). GB/s = shard bytes / wall time of the process (node startup included).
// On disk (the work dir, not tmpfs) img-join -D fsyncs every file and the directory before it
// exits 0 (durability, issue 11): its baseline there is cat into one file fsynced at the end
// (dd conv=fsync), and plain cat to disk shows what the fsync itself costs.
import { rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Benchmark, Ctx, Draft } from '../context.js'
import { binPath, q, readUsage, runGroup } from '../lib/procs.js'
import { GB, MIB, formatSize } from '../lib/units.js'
import { producerCmd } from './shards.js'

const N = 4
type Dest = 'null' | 'pipe' | 'tmpfs' | 'disk'
const DESTS: Dest[] = ['null', 'pipe', 'tmpfs', 'disk']
const DEST_LABEL: Record<Dest, string> = { null: '> /dev/null', pipe: '| drain', tmpfs: '-> tmpfs', disk: '-> disk' }
const CAT = (d: Dest) => (d === 'disk' ? 'cat -> disk + fsync' : `cat ${DEST_LABEL[d]}`)
const CAT_NO_SYNC = 'cat -> disk'
const JOIN = (d: Dest) => (d === 'tmpfs' || d === 'disk' ? `img-join -D ${d}` : `img-join ${DEST_LABEL[d]}`)
const onDisk = (d: Dest) => d === 'disk'
type Tool = 'cat' | 'cat-no-sync' | 'join'

async function makeShards(ctx: Ctx): Promise<{ files: string[]; bytes: number }> {
  const dir = ctx.work.sub('join-setup')
  const ram = ctx.work.sub('join-shards', true)
  const images = join(dir, 'images')
  const files = [...Array(N).keys()].map((i) => join(ram, `shard${i}`))
  await runGroup(`{ ${bin()} -D ${q(images)} -s ${files.map((_, i) => 3 + i).join(',')} -p 9 9>/dev/null ` +
    `${files.map((f, i) => `${3 + i}>${q(f)}`).join(' ')} & split=$!; } && ` +
    `${producerCmd(ctx.natives, join(images, 'streamer-capture.sock'), ctx.sizes.join, join(dir, 'producer.out'))} && wait $split`,
    'making the shards (producer -> img-split)')
  return { files, bytes: files.reduce((n, f) => n + statSync(f).size, 0) }
}

function bin(): string {
  return `node ${q(binPath('img-split'))}`
}

async function one(ctx: Ctx, d: Draft, run: number, shards: { files: string[]; bytes: number }, tool: Tool, dest: Dest): Promise<void> {
  const dir = ctx.work.sub(`join-${tool}-${dest}`)
  const out = ctx.work.sub(`join-${tool}-${dest}-out`, !onDisk(dest))
  const usage = join(dir, 'usage')
  const inputs = tool !== 'join'
    ? `cat ${shards.files.map(q).join(' ')}`
    : `node ${q(binPath('img-join'))} -s ${shards.files.map((_, i) => 3 + i).join(',')} -p 9 9>/dev/null ` +
      `${shards.files.map((f, i) => `${3 + i}<${q(f)}`).join(' ')}${dest === 'tmpfs' || onDisk(dest) ? ` -D ${q(join(out, 'images'))}` : ''}`
  const target = dest === 'null' ? '> /dev/null'
    : dest === 'pipe' ? `| ${q(ctx.natives.drain)} > /dev/null`
    : tool === 'cat' && onDisk(dest) ? `| dd of=${q(join(out, 'all.bin'))} bs=1M conv=fsync status=none`
    : tool !== 'join' ? `> ${q(join(out, 'all.bin'))}` : ''
  try {
    await runGroup(`${q(ctx.natives.measure)} ${q(usage)} ${inputs} ${target}`, `${tool} ${dest}`)
    const u = readUsage(usage)
    const name = tool === 'cat' ? CAT(dest) : tool === 'cat-no-sync' ? CAT_NO_SYNC : JOIN(dest)
    d.rec.add(name, run, 'gbps', 'throughput', 'GB/s', shards.bytes / GB / u.wallS)
    d.rec.add(name, run, 'cpu', 'CPU', 'CPU-s/GB', u.cpuS / (shards.bytes / GB))
    d.rec.add(name, run, 'rss', 'peak RSS', 'MiB', u.maxRss / MIB)
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
}

export const joinBench: Benchmark = {
  id: 'join',
  title: 'join/extract: img-join of 4 shard files vs cat of the same files',
  async run(ctx, d) {
    d.params.pages = formatSize(ctx.sizes.join)
    d.params.shards = N
    const shards = await makeShards(ctx)
    d.facts.shards = { label: 'shard bytes', unit: 'MiB', value: shards.bytes / MIB }
    for (const dest of DESTS) { d.rec.contender(CAT(dest), true); d.rec.contender(JOIN(dest)) }
    d.rec.contender(CAT_NO_SYNC, true)
    try {
      for (let run = 0; run < ctx.runs; run++) {
        ctx.log(`join: run ${run + 1}/${ctx.runs}`)
        for (const dest of DESTS) {
          if (onDisk(dest)) await one(ctx, d, run, shards, 'cat-no-sync', dest)
          await one(ctx, d, run, shards, 'cat', dest)
          await one(ctx, d, run, shards, 'join', dest)
        }
      }
    } finally {
      for (const f of shards.files) rmSync(f, { force: true })
    }
    for (const dest of DESTS) {
      d.ratios.push({ name: `${JOIN(dest)} / ${CAT(dest)}`, value: d.rec.median(JOIN(dest), 'gbps') / d.rec.median(CAT(dest), 'gbps'), of: 'throughput' })
    }
    // What durability costs: the same bytes to disk with and without the final fsync.
    d.ratios.push({ name: `${CAT('disk')} / ${CAT_NO_SYNC}`, value: d.rec.median(CAT('disk'), 'gbps') / d.rec.median(CAT_NO_SYNC, 'gbps'), of: 'throughput' })
  },
}
