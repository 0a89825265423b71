import t from 'tap'
import { ASSUMED_LINK_BYTES_PER_S, afterRound1, changedAfter, planAuto } from '../src/auto.js'
import type { DirtySample } from '../src/dirty-rate.js'

const GIB = 1 << 30
const sample = (perSecond: number, residentBytes = 2 * GIB): DirtySample => ({ residentBytes, pages: 1024, changed: 0, gapMs: 500, perSecond })

t.test('with a lazy final round: postcopy at any dirty rate (the downtime of hybrid, one round less)', async t => {
  for (const rate of [0, 0.01, 0.1, 1]) t.match(planAuto(sample(rate), true), { mode: 'postcopy', why: /moves each page once/ })
  t.match(planAuto(sample(0), true), { why: /^0 % of 2048 MiB changes per second/ })
})

t.test('without a lazy final round (fs.pipe-max-size, --encrypt): precopy, or full when a round cannot win', async t => {
  t.match(planAuto(sample(0.01), false), { mode: 'precopy', why: /no lazy final round/ }, '1 %/s on 2 GiB: a 17 s round leaves 16 % changed')
  t.match(planAuto(sample(0.1), false), { mode: 'full', why: /more than the 50 % pre-copy can gain on/ }, '10 %/s: 82 % changed meanwhile')
  t.match(planAuto(sample(1), false), { mode: 'full' })
  t.match(planAuto(sample(1, 16 << 20), false), { mode: 'precopy' }, 'a small process moves in a fraction of a second')
})

t.test('hybrid stops after its running round, with the measured link rate in the why', async t => {
  t.match(afterRound1(GIB, 4000, sample(0.5)), /^round 1 moved 1024 MiB in 4000 ms \(268 MB\/s\), about 86 % changed meanwhile: the lazy final round/)
  t.match(afterRound1(GIB, 4000, null), /^round 1 moved 1024 MiB in 4000 ms \(268 MB\/s\): the lazy final round/)
})

t.test('the changed share follows 1 - e^(-d t)', async t => {
  t.equal(changedAfter(0, 10), 0)
  t.ok(Math.abs(changedAfter(Math.log(2), 1) - 0.5) < 1e-12)
  t.ok(ASSUMED_LINK_BYTES_PER_S > 0)
})
