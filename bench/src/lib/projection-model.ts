// The paper model of issue 15 item 6: what a checkpoint of the seed's machine (128 GB, 16 CPUs,
// one 2 GB/s NIC) would take, from per-core costs measured here. Pure: the benchmark measures the
// inputs, this turns them into seconds (and bench/test/projection-model.test.ts checks the sums).
//
// A checkpoint is a pipeline: CRIU's dump (one thread), img-split's main thread (one thread), the
// codec workers (a pool) and the link. It goes as fast as its slowest stage:
//   time = max( bytes x CRIU's CPU-s/GB,                                  (one thread)
//               bytes x img-split's CPU-s/GB,                             (one thread)
//               bytes x (CRIU + img-split + codec / efficiency) / CPUs,   (every stage shares the CPUs)
//               stored bytes / link )
// where the codec's CPU-s/GB is per core (1 / its rate) and `efficiency` is what one worker of a
// pool gets done of what a lone thread would (measured from 1 to 2 threads).

export interface Machine {
  /** page bytes to checkpoint */
  bytes: number
  cpus: number
  /** bytes per second the link takes */
  linkBps: number
}

/** What each stage costs per GB (1e9 bytes) of raw pages, measured on one core. */
export interface Costs {
  criuCpuPerGB: number
  splitCpuPerGB: number
  /** share of a lone thread's rate one pool worker keeps (measured 1 -> 2 threads) */
  workerEfficiency: number
}

/** A way of storing the pages: its codec's CPU-s per raw GB on one core and stored / raw. */
export interface Codec {
  name: string
  cpuPerGB: number
  ratio: number
}

export const STORED: Codec = { name: 'stored', cpuPerGB: 0, ratio: 1 }

export type Stage = 'CRIU' | 'img-split main' | 'CPUs' | 'link'

export interface Projection {
  seconds: number
  /** the stage that sets the time */
  limit: Stage
  stages: Record<Stage, number>
  /** what was sent: the codec, or for auto the mix it settles on */
  codec: string
}

export function project(m: Machine, c: Costs, codec: Codec): Projection {
  const gb = m.bytes / 1e9
  const stages: Record<Stage, number> = {
    'CRIU': gb * c.criuCpuPerGB,
    'img-split main': gb * c.splitCpuPerGB,
    'CPUs': gb * (c.criuCpuPerGB + c.splitCpuPerGB + codec.cpuPerGB / c.workerEfficiency) / m.cpus,
    'link': (m.bytes * codec.ratio) / m.linkBps,
  }
  let limit: Stage = 'link'
  for (const s of Object.keys(stages) as Stage[]) if (stages[s] > stages[limit]) limit = s
  return { seconds: stages[limit], limit, stages, codec: codec.name }
}

// auto moves one rung every 16 chunks towards the side that waits less, a shard (the link) or a
// worker (the CPUs), so in a steady state it sends the mix of two neighbouring rungs that keeps
// those two equally busy; the model tries each mix in steps of this share. (CRIU and img-split's
// main thread are no side of auto's choice: when they limit, the time is theirs whatever the mix.)
const MIX_STEP = 0.01

/**
 * --compress auto: the mix of two neighbouring rungs of `ladder` (cheapest first, `STORED` the
 * first) with the least of max(CPUs, link); `sampleCpuPerGB` is auto's look at every chunk (a
 * sample compressed at the cheapest level), paid whatever the rung.
 */
export function projectAuto(m: Machine, c: Costs, ladder: readonly Codec[], sampleCpuPerGB: number): Projection {
  let best: Projection | undefined
  for (let i = 0; i + 1 < ladder.length; i++) {
    const [a, b] = [ladder[i]!, ladder[i + 1]!]
    for (let k = 0; k <= Math.round(1 / MIX_STEP); k++) {
      const f = k * MIX_STEP // share of chunks on the higher rung
      const mix: Codec = {
        name: f === 0 ? a.name : f === 1 ? b.name : `${Math.round((1 - f) * 100)} % ${a.name} + ${Math.round(f * 100)} % ${b.name}`,
        cpuPerGB: (1 - f) * a.cpuPerGB + f * b.cpuPerGB + sampleCpuPerGB,
        ratio: (1 - f) * a.ratio + f * b.ratio,
      }
      const p = project(m, c, mix)
      if (!best || balance(p) < balance(best)) best = p
    }
  }
  if (!best) throw new Error('projectAuto: the ladder needs two rungs')
  return best
}

const balance = (p: Projection): number => Math.max(p.stages.CPUs, p.stages.link)
