// Mode auto: the final round's form and whether to pre-copy at all, from the measured dirty rate
// (dirty-rate.ts, before any round) and link rate (round 1's transfer), never from the user.
//   lazy final possible?   CRIU's lazy page server needs fs.pipe-max-size >= 4 MiB; without it
//                          the final round streams (precopy, or full when pre-copy cannot win)
//   before any round       a pre-copy round ships the resident memory in resident / link
//                          seconds; if in that time more than PRECOPY_STOP_PERCENT % of the pages
//                          change, the round buys nothing: postcopy, no round wasted. The link is
//                          not measured yet: ASSUMED_LINK, on the slow side (a wrong guess on the
//                          slow side costs nothing: postcopy's downtime is hybrid's, its total
//                          time is one round less)
//   after round 1          hybrid: the lazy final round at once (see afterRound1); precopy:
//                          the rounds' sizes decide (stop-rule.ts)
import { readFileSync } from 'node:fs'
import { PRECOPY_STOP_PERCENT } from './stop-rule.js'
import type { DirtySample } from './dirty-rate.js'

/** 1 Gbit/s: the link assumed before round 1 measures it (see above). */
export const ASSUMED_LINK_BYTES_PER_S = 125e6
/** CRIU's lazy page server sizes its pipe to 4 MiB (without CAP_SYS_RESOURCE: fs.pipe-max-size). */
export const LAZY_PIPE_BYTES = 4 << 20
const PIPE_MAX_SIZE = '/proc/sys/fs/pipe-max-size'

export type FixedMode = 'full' | 'precopy' | 'postcopy' | 'hybrid'

export interface AutoPlan { mode: FixedMode; why: string }

/** Whether CRIU's lazy page server can run here. */
export function lazyPossible(): boolean {
  try { return Number(readFileSync(PIPE_MAX_SIZE, 'utf8')) >= LAZY_PIPE_BYTES } catch { return false }
}

/** Share of the pages changed after `seconds` at `perSecond` (see DirtySample.perSecond). */
export const changedAfter = (perSecond: number, seconds: number): number => 1 - Math.exp(-perSecond * seconds)

const pct = (x: number): string => `${Math.round(x * 100)} %`
const mib = (b: number): string => `${Math.round(b / (1 << 20))} MiB`

/** Before any round. */
export function planAuto(d: DirtySample, lazy: boolean): AutoPlan {
  const seconds = d.residentBytes / ASSUMED_LINK_BYTES_PER_S
  const share = changedAfter(d.perSecond, seconds)
  const rate = `${pct(changedAfter(d.perSecond, 1))} of ${mib(d.residentBytes)} changes per second (${d.changed} of ${d.pages} sampled pages in ${d.gapMs} ms)`
  const noLazy = lazy ? '' : `; fs.pipe-max-size < ${mib(LAZY_PIPE_BYTES)}: no lazy final round`
  if (share * 100 > PRECOPY_STOP_PERCENT) {
    return { mode: lazy ? 'postcopy' : 'full', why: `${rate}: ${pct(share)} would change during a round at ${ASSUMED_LINK_BYTES_PER_S / 1e6} MB/s, more than the ${PRECOPY_STOP_PERCENT} % pre-copy can gain on${noLazy}` }
  }
  return { mode: lazy ? 'hybrid' : 'precopy', why: `${rate}: ${pct(share)} would change during a round at ${ASSUMED_LINK_BYTES_PER_S / 1e6} MB/s${noLazy}` }
}

/**
 * After round 1 (`ms` long, `bytes` sent), when the final round is lazy: stop pre-copy, and why.
 * Another running round would read and hash every page again (pre-copy by content: about round
 * 1's time) to save the lazy phase only what changed meanwhile, which it moves anyway without
 * freezing anything. (A streamed final round is frozen: there the stop rule goes on.)
 */
export function afterRound1(d: DirtySample, bytes: number, ms: number): string {
  const share = changedAfter(d.perSecond, ms / 1000)
  return `round 1 moved ${mib(bytes)} in ${ms} ms (${Math.round(bytes / Math.max(ms, 1) / 1e3)} MB/s), about ${pct(share)} changed meanwhile: ` +
    'the lazy final round moves that without a freeze (another round would read all memory again)'
}
