// When pre-copy stops and the final (frozen) round follows. Each running round sends what changed
// since the one before; while memory changes slower than the channel moves it, every round is
// smaller than the last, and so is the final round, whose bytes are the downtime.

/**
 * A round that sent more than this share of the previous round's bytes did not shrink enough
 * to pay for another: the next would send about as much again (memory changes about as fast as
 * the channel moves it), and the final round would not get smaller.
 */
export const PRECOPY_STOP_PERCENT = 50

export interface StopDecision { stop: boolean; why: string }

/** After the running rounds that sent `sent[i]` bytes each: another one, or the final round? */
export function afterRound(sent: readonly number[], maxRounds: number): StopDecision {
  const k = sent.length
  if (k >= 2) {
    const prev = sent[k - 2]!, last = sent[k - 1]!
    if (last * 100 > prev * PRECOPY_STOP_PERCENT) {
      const pct = prev > 0 ? Math.round(last * 100 / prev) : 100
      return { stop: true, why: `round ${k} sent ${pct} % of round ${k - 1}'s bytes (the rule stops above ${PRECOPY_STOP_PERCENT} %)` }
    }
  }
  if (k >= maxRounds) return { stop: true, why: `--max-rounds ${maxRounds} reached` }
  return { stop: false, why: '' }
}
