// Shard plumbing shared by the benchmarks: N named pipes, each drained by the C `drain` (splice
// to /dev/null: the cheapest consumer that still empties a pipe, as ssh or a file writer would
// have to; redirecting a shard fd straight to /dev/null would skip the pipe altogether), and the
// synthetic producer. The drains can emulate one link of a fixed rate that they share, as shards
// leaving through one NIC do, and an external filter (a codec such as `lz4 -1`, the README's
// per-shard recipe) can sit between a shard and its drain.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Natives } from '../lib/native.js'
import { parseEndLine, q, readUsage } from '../lib/procs.js'

export interface DrainOptions {
  /** rate of the one link all the drains share (their sum), bytes/s; 0 or absent: as fast as splice goes */
  rate?: number
  /** argv of a filter between each shard and its drain (run under `measure`) */
  filter?: readonly string[]
}

export interface DrainedShards {
  /** `-s` value: 3,4,... */
  list: string
  /** redirections for the writer: 3>f0 4>f1 ... */
  redirs: string
  /** shell: mkfifo and start the drains in the background, their pids in $drains */
  start: string
  /** shell: wait for every drain, failing if one failed */
  wait: string
  /** when the last drain saw EOF, the bytes they moved in all, and the filters' CPU seconds */
  result(): { endNs: bigint; bytes: number; filterCpuS: number }
}

export function drainedShards(natives: Natives, dir: string, n: number, opts: DrainOptions = {}): DrainedShards {
  const idx = [...Array(n).keys()]
  const fifo = (i: number) => q(join(dir, `shard${i}`))
  const out = (i: number) => join(dir, `drain${i}.out`)
  const usage = (i: number) => join(dir, `filter${i}.usage`)
  const drain = `${q(natives.drain)}${opts.rate ? ` ${Math.round(opts.rate)} ${q(join(dir, 'link'))}` : ''}`
  const filter = opts.filter
  const consumer = (i: number) => filter
    ? `${q(natives.measure)} ${q(usage(i))} ${filter.map(q).join(' ')} < ${fifo(i)} | ${drain} > ${q(out(i))}`
    : `${drain} < ${fifo(i)} > ${q(out(i))}`
  return {
    list: idx.map((i) => 3 + i).join(','),
    redirs: idx.map((i) => `${3 + i}>${fifo(i)}`).join(' '),
    start: `mkfifo ${idx.map(fifo).join(' ')} && drains= && ` +
      idx.map((i) => `{ ${consumer(i)} & drains="$drains $!"; }`).join(' && '),
    wait: 'for d in $drains; do wait $d || exit 1; done',
    result() {
      let endNs = 0n
      let bytes = 0
      let filterCpuS = 0
      for (const i of idx) {
        const r = parseEndLine(readFileSync(out(i), 'utf8'), `drain of shard ${i}`)
        if (r.endNs > endNs) endNs = r.endNs
        bytes += r.bytes
        if (!filter) continue
        const u = readUsage(usage(i))
        if (u.status !== 0) throw new Error(`${filter.join(' ')} of shard ${i}: wait status ${u.status}`)
        filterCpuS += u.cpuS
      }
      return { endNs, bytes, filterCpuS }
    },
  }
}

export interface Produced { startNs: bigint; endNs: bigint; bytes: number }

/** Shell: the synthetic `criu dump --stream` of `bytes` of pages into `sock`, printing to `outFile`. */
/** `dataFile`: page contents to send (cycled), instead of the producer's own 1 MiB pattern. */
export function producerCmd(natives: Natives, sock: string, bytes: number, outFile: string, dataFile?: string): string {
  return `${q(natives.producer)} ${q(sock)} ${bytes}${dataFile ? ` ${q(dataFile)}` : ''} > ${q(outFile)}`
}

export function readProduced(outFile: string): Produced {
  const m = /^(\d+) (\d+) (\d+)/.exec(readFileSync(outFile, 'utf8').trim())
  if (!m) throw new Error(`producer: unexpected output in ${outFile}`)
  return { startNs: BigInt(m[1]!), endNs: BigInt(m[2]!), bytes: Number(m[3]) }
}
