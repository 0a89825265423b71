// Codecs at their reference implementations' speed (issue 15, item 3), on the pages of a mixed
// memhog dumped once with `criu dump -D` into the tmpfs (real page contents, the same bytes for
// every contender):
//   - per core: img-split's codec calls (bench/src/lib/codec-rate.ts: liblz4 / libzstd -1 on
//     EXT_CHUNK chunks from shared memory) vs the `lz4 -1` and `zstd -1 -T1` commands on the same
//     file; rate = page bytes / CPU-s (user + system), so other load on the machine counts less;
//     target: img-split's >= 0.9 x the command's;
//   - scaling: `img-split --compress lz4 --threads 1` and `--threads 2`, fed by the synthetic
//     producer vmsplicing those pages, into one drained shard (unthrottled); throughput from the
//     first page produced to the shard drained; target: 2 threads >= 1.6 x 1 thread.
import { readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import type { Benchmark, Ctx, Draft } from '../context.js'
import { needsCriu } from '../context.js'
import { runCriuMeasured } from '../lib/criu.js'
import { binPath, q, readUsage, runGroup, seconds, type Usage } from '../lib/procs.js'
import { GB, formatSize } from '../lib/units.js'
import { target } from '../report.js'
import { freshMemhog } from './common.js'
import { drainedShards, producerCmd, readProduced } from './shards.js'

const CODECS = ['lz4', 'zstd'] as const
type Codec = (typeof CODECS)[number]
const LIB = (c: Codec) => `img-split's ${c === 'lz4' ? 'liblz4' : 'libzstd -1'} (1 core)`
const CLI = (c: Codec) => (c === 'lz4' ? '`lz4 -1`' : '`zstd -1 -T1`')
const CLI_ARGV: Record<Codec, string[]> = { lz4: ['lz4', '-1', '-q', '-c'], zstd: ['zstd', '-1', '-T1', '-q', '-c'] }
const THREADS = [1, 2]
const SPLIT = (n: number) => `img-split --compress lz4 --threads ${n}`
const CODEC_RATE = new URL('../lib/codec-rate.js', import.meta.url).pathname
const PER_CORE_TARGET = 0.9
const SCALING_TARGET = 1.6

/** The pages of a fresh mixed memhog (of `bytes`), in one file, and the usage of the `criu dump -D` that wrote them. */
export async function pagesFile(ctx: Ctx, bytes = ctx.sizes.workload): Promise<{ file: string; dump: Usage }> {
  const w = await freshMemhog(ctx, 'codecs-workload', 'mixed', bytes)
  const images = ctx.work.sub('codecs-images', true)
  const file = join(ctx.work.sub('codecs'), 'pages.bin')
  let dump: Usage
  try {
    dump = (await runCriuMeasured(ctx.natives, ['dump', '-t', String(w.pid), '-D', images], ctx.work.sub('codecs-logs'), 'dump')).usage
    await w.exited
  } catch (e) {
    w.kill()
    throw e
  }
  writeFileSync(file, '')
  for (const n of readdirSync(images).filter(n => /^pages-\d+\.img$/.test(n)).sort()) appendFileSync(file, readFileSync(join(images, n)))
  rmSync(images, { recursive: true, force: true })
  return { file, dump }
}

/** One core's run of img-split's codec calls over FILE (codec-rate.ts: `lz4`, `zstd[:LEVEL]`, `sha256`). */
export async function codecRate(spec: string, file: string): Promise<{ cpuS: number; raw: number; stored: number }> {
  const r = await execa('node', [CODEC_RATE, spec, file])
  const [cpuS, raw, stored] = r.stdout.trim().split(' ').map(Number) as [number, number, number]
  return { cpuS, raw, stored }
}

async function lib(ctx: Ctx, d: Draft, run: number, c: Codec, file: string): Promise<void> {
  const { cpuS, raw, stored } = await codecRate(c, file)
  d.rec.add(LIB(c), run, 'rate', 'compress rate per core', 'MB/s', raw / 1e6 / cpuS)
  d.rec.add(LIB(c), run, 'ratio', 'stored / raw', 'x', stored / raw)
}

async function cli(ctx: Ctx, d: Draft, run: number, c: Codec, file: string): Promise<void> {
  const dir = ctx.work.sub(`codecs-cli-${c}`)
  const usage = join(dir, 'usage')
  const out = join(dir, 'out')
  await runGroup(`${q(ctx.natives.measure)} ${q(usage)} ${CLI_ARGV[c].map(q).join(' ')} ${q(file)} > ${q(out)}`, CLI(c))
  const u = readUsage(usage)
  const raw = readFileSync(file).length
  d.rec.add(CLI(c), run, 'rate', 'compress rate per core', 'MB/s', raw / 1e6 / u.cpuS)
  d.rec.add(CLI(c), run, 'ratio', 'stored / raw', 'x', readFileSync(out).length / raw)
  rmSync(out, { force: true })
}

/**
 * img-split with ARGS (e.g. `--compress lz4 --threads 2`; '' for the plain path) fed BYTES of
 * FILE's pages by the synthetic producer, into one drained shard (unthrottled): throughput from
 * the first page produced to the shard drained, and img-split's CPU-s (startup included).
 */
export async function splitRun(ctx: Ctx, dirName: string, args: string, file: string, bytes: number): Promise<{ gbps: number; cpuS: number }> {
  const dir = ctx.work.sub(dirName)
  const images = join(dir, 'images')
  const prod = join(dir, 'producer.out')
  const usage = join(dir, 'img-split.usage')
  const shards = drainedShards(ctx.natives, dir, 1)
  await runGroup(
    `${shards.start} && { ${q(ctx.natives.measure)} ${q(usage)} node ${q(binPath('img-split'))} -D ${q(images)} -s ${shards.list} ` +
      `${args} -p 9 9>/dev/null ${shards.redirs} & split=$!; } && ` +
      `${producerCmd(ctx.natives, join(images, 'streamer-capture.sock'), bytes, prod, file)} && wait $split && ${shards.wait}`, `img-split ${args}`)
  const p = readProduced(prod)
  const drained = shards.result()
  return { gbps: bytes / GB / seconds(p.startNs, drained.endNs), cpuS: readUsage(usage).cpuS }
}

async function split(ctx: Ctx, d: Draft, run: number, n: number, file: string, bytes: number): Promise<void> {
  const r = await splitRun(ctx, `codecs-split${n}`, `--compress lz4 --threads ${n}`, file, bytes)
  d.rec.add(SPLIT(n), run, 'gbps', 'throughput', 'GB/s', r.gbps)
  d.rec.add(SPLIT(n), run, 'cpu', 'img-split CPU (startup included)', 'CPU-s/GB', r.cpuS / (bytes / GB))
}

export const codecs: Benchmark = {
  id: 'codecs',
  title: 'codecs: img-split\'s lz4/zstd per core vs the lz4/zstd commands; --threads 1 vs 2, unthrottled',
  skip: needsCriu,
  async run(ctx, d) {
    d.params.workload = `memhog ${formatSize(ctx.sizes.workload)}, mixed memory`
    for (const c of CODECS) { d.rec.contender(CLI(c), true); d.rec.contender(LIB(c)) }
    for (const n of THREADS) d.rec.contender(SPLIT(n))
    const { file } = await pagesFile(ctx)
    // The producer cycles through the file; twice its size gives each run a few seconds.
    const bytes = 2 * readFileSync(file).length
    d.params.scaling = `${formatSize(bytes)} of those pages`
    for (let run = 0; run < ctx.runs; run++) {
      ctx.log(`codecs: run ${run + 1}/${ctx.runs}`)
      for (const c of CODECS) { await cli(ctx, d, run, c, file); await lib(ctx, d, run, c, file) }
      for (const n of THREADS) await split(ctx, d, run, n, file, bytes)
    }
    for (const c of CODECS) {
      const r = d.rec.median(LIB(c), 'rate') / d.rec.median(CLI(c), 'rate')
      d.ratios.push({ name: `${LIB(c)} / ${CLI(c)}`, value: r, of: 'compress rate per core' })
      d.targets.push(target(`${c} per core vs ${CLI(c)}`, r, '>=', PER_CORE_TARGET, 'x'))
    }
    const s = d.rec.median(SPLIT(2), 'gbps') / d.rec.median(SPLIT(1), 'gbps')
    d.ratios.push({ name: `${SPLIT(2)} / ${SPLIT(1)}`, value: s, of: 'throughput' })
    d.targets.push(target('--threads 2 vs --threads 1 (lz4, unthrottled)', s, '>=', SCALING_TARGET, 'x'))
  },
}
