// Mode auto: the final round's form and whether to pre-copy at all, from the measured dirty rate
// (dirty-rate.ts, before any round, without freezing anything), never from the user.
//   lazy final possible    (CRIU's lazy page server needs fs.pipe-max-size >= 4 MiB; the page
//                          stream is not encrypted, so not with --encrypt): postcopy. Its downtime
//                          is hybrid's (both freeze only for the non-memory state, and restore at
//                          once), and it moves every page once, where hybrid first moves them all in
//                          a running round: by downtime, then total time, postcopy leads at any
//                          dirty rate (the chart of bench/ section 14 shows it). hybrid's gain, a
//                          shorter lazy phase (references instead of pages), is the user's to ask for.
//   no lazy final round    a pre-copy round ships the resident memory in resident / link seconds;
//                          if in that time more than PRECOPY_STOP_PERCENT % of the pages change, the
//                          round buys nothing: full. Otherwise precopy, whose rounds' sizes then
//                          decide (stop-rule.ts). The link is not measured yet: ASSUMED_LINK.
import { readFileSync } from 'node:fs'
import { PRECOPY_STOP_PERCENT } from './stop-rule.js'
import type { DirtySample } from './dirty-rate.js'

/** 1 Gbit/s: the link assumed before round 1 measures it (a wrong guess on the slow side only picks full). */
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
  const rate = `${pct(changedAfter(d.perSecond, 1))} of ${mib(d.residentBytes)} changes per second (${d.changed} of ${d.pages} sampled pages in ${d.gapMs} ms)`
  if (lazy) {
    return { mode: 'postcopy', why: `${rate}; a lazy final round is possible: postcopy freezes only the non-memory state, as hybrid would, and moves each page once (hybrid moves them all in a running round first)` }
  }
  const seconds = d.residentBytes / ASSUMED_LINK_BYTES_PER_S
  const share = changedAfter(d.perSecond, seconds)
  const round = `${pct(share)} would change during a round at ${ASSUMED_LINK_BYTES_PER_S / 1e6} MB/s`
  if (share * 100 > PRECOPY_STOP_PERCENT) {
    return { mode: 'full', why: `${rate}: ${round}, more than the ${PRECOPY_STOP_PERCENT} % pre-copy can gain on; no lazy final round (fs.pipe-max-size < ${mib(LAZY_PIPE_BYTES)}, or --encrypt)` }
  }
  return { mode: 'precopy', why: `${rate}: ${round}; no lazy final round (fs.pipe-max-size < ${mib(LAZY_PIPE_BYTES)}, or --encrypt)` }
}

/**
 * hybrid, after its running round (`ms` long, `bytes` sent): the lazy final round follows at once.
 * Another running round would read and hash every page again (and freeze the process while it
 * ships them) to save the lazy phase only what changed meanwhile, which it moves without a freeze.
 */
export function afterRound1(bytes: number, ms: number, d: DirtySample | null): string {
  const changed = d === null ? '' : `, about ${pct(changedAfter(d.perSecond, ms / 1000))} changed meanwhile`
  return `round 1 moved ${mib(bytes)} in ${ms} ms (${Math.round(bytes / Math.max(ms, 1) / 1e3)} MB/s)${changed}: ` +
    'the lazy final round moves what changed without a freeze (another round would read all memory again)'
}
