// Issue 18's targets for img-migrate, from the medians of one run of the migrate benchmark: what
// each target compares, which fixed mode is "the best" at a dirty rate, and how a mode that did
// not run (img-migrate said "not yet") shows: the target is there, without a value, a MISS.
import { target, type Target } from '../report.js'

/** The modes that are not auto, in the issue's order. */
export const FIXED_MODES = ['full', 'precopy', 'postcopy', 'hybrid'] as const
/** The dirty rate (% of the pages a second) of the hybrid targets. */
export const HYBRID_RATE = 1

/** The issue's bounds (x the other figure). */
export const LIMITS = {
  /** hybrid's downtime against a full migration's, same size and rate */
  hybridVsFull: 0.1,
  /** hybrid's downtime at twice the size against its own: downtime independent of size */
  hybridSizeGrowth: 1.25,
  /** hybrid's total time against pre-copy's */
  hybridVsPrecopyTotal: 1.25,
  /** auto against the best fixed mode (the shortest downtime) at each rate */
  autoDowntime: 1.1,
  autoTotal: 1.2,
}

export interface Figures { downtimeS: number; totalS: number }

export interface MigrateMedians {
  rates: readonly number[]
  /** the base size, and twice it, as printed (e.g. "2 GiB", "4 GiB") */
  size: string
  doubleSize: string
  /** medians of `mode` at `rate` and the base size; undefined when the mode did not run */
  at(mode: string, rate: number): Figures | undefined
  /** hybrid at HYBRID_RATE and twice the size; undefined when it did not run */
  hybridDouble: Figures | undefined
  /** why a mode did not run (img-migrate's "not yet"), by mode */
  notRun: Readonly<Record<string, string>>
}

const ok = (f: Figures | undefined): f is Figures => f !== undefined && Number.isFinite(f.downtimeS) && Number.isFinite(f.totalS)

/** The fixed mode with the shortest median downtime at `rate`, among those that ran. */
export function bestFixed(m: MigrateMedians, rate: number): { mode: string; figures: Figures } | undefined {
  let best: { mode: string; figures: Figures } | undefined
  for (const mode of FIXED_MODES) {
    const f = m.at(mode, rate)
    if (ok(f) && (!best || f.downtimeS < best.figures.downtimeS)) best = { mode, figures: f }
  }
  return best
}

/** Why a figure is missing: the modes behind it that did not run. */
function missing(m: MigrateMedians, modes: string[]): string | undefined {
  const why = modes.filter((x) => m.notRun[x] !== undefined).map((x) => `${x}: ${m.notRun[x]}`)
  return why.length ? why.join('; ') : undefined
}

export function migrateTargets(m: MigrateMedians): Target[] {
  const out: Target[] = []
  if (m.rates.includes(HYBRID_RATE)) {
    const r = HYBRID_RATE
    const hybrid = m.at('hybrid', r)
    const full = m.at('full', r)
    const pre = m.at('precopy', r)
    out.push(target(`hybrid at ${r} %/s, ${m.size}: downtime / full's`, ok(hybrid) && ok(full) ? hybrid.downtimeS / full.downtimeS : Number.NaN,
      '<=', LIMITS.hybridVsFull, 'x', missing(m, ['hybrid', 'full'])))
    out.push(target(`hybrid at ${r} %/s: downtime at ${m.doubleSize} / at ${m.size}`,
      ok(hybrid) && ok(m.hybridDouble) ? m.hybridDouble.downtimeS / hybrid.downtimeS : Number.NaN,
      '<=', LIMITS.hybridSizeGrowth, 'x', missing(m, ['hybrid'])))
    out.push(target(`hybrid at ${r} %/s, ${m.size}: total time / precopy's`, ok(hybrid) && ok(pre) ? hybrid.totalS / pre.totalS : Number.NaN,
      '<=', LIMITS.hybridVsPrecopyTotal, 'x', missing(m, ['hybrid', 'precopy'])))
  }
  const absent = FIXED_MODES.filter((x) => m.notRun[x] !== undefined)
  for (const r of m.rates) {
    const auto = m.at('auto', r)
    const best = bestFixed(m, r)
    const of = best ? `best fixed mode: ${best.mode}${absent.length ? ` (of those that ran; not run: ${absent.join(', ')})` : ''}` : undefined
    const note = missing(m, ['auto']) ?? of
    out.push(target(`auto at ${r} %/s: downtime / the best fixed mode's`, ok(auto) && best ? auto.downtimeS / best.figures.downtimeS : Number.NaN,
      '<=', LIMITS.autoDowntime, 'x', note))
    out.push(target(`auto at ${r} %/s: total time / that mode's`, ok(auto) && best ? auto.totalS / best.figures.totalS : Number.NaN,
      '<=', LIMITS.autoTotal, 'x', note))
  }
  return out
}
