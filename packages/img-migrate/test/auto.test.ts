import t from 'tap'
import { ASSUMED_LINK_BYTES_PER_S, afterRound1, changedAfter, planAuto } from '../src/auto.js'
import type { DirtySample } from '../src/dirty-rate.js'

const GIB = 1 << 30
const sample = (perSecond: number, residentBytes = 2 * GIB): DirtySample => ({ residentBytes, pages: 1024, changed: 0, gapMs: 500, perSecond })

t.test('before any round: postcopy when a round would not shrink what changes, else hybrid', async t => {
  t.match(planAuto(sample(0), true), { mode: 'hybrid', why: /0 % of 2048 MiB changes per second/ })
  t.match(planAuto(sample(0.01), true), { mode: 'hybrid' }, '1 %/s on 2 GiB: a 17 s round leaves 16 % changed')
  t.match(planAuto(sample(0.1), true), { mode: 'postcopy', why: /more than the 50 % pre-copy can gain on/ }, '10 %/s: 82 % changed meanwhile')
  t.match(planAuto(sample(1), true), { mode: 'postcopy' })
  t.match(planAuto(sample(1, 16 << 20), true), { mode: 'hybrid' }, 'a small process moves in a fraction of a second')
})

t.test('without a lazy final round (fs.pipe-max-size): precopy or full', async t => {
  t.match(planAuto(sample(0.01), false), { mode: 'precopy', why: /no lazy final round/ })
  t.match(planAuto(sample(1), false), { mode: 'full' })
})

t.test('after round 1 the lazy final round follows, with the measured link rate in the why', async t => {
  t.match(afterRound1(sample(0.5), GIB, 4000), /^round 1 moved 1024 MiB in 4000 ms \(268 MB\/s\), about 86 % changed meanwhile: the lazy final round/)
})

t.test('the changed share follows 1 - e^(-d t)', async t => {
  t.equal(changedAfter(0, 10), 0)
  t.ok(Math.abs(changedAfter(Math.log(2), 1) - 0.5) < 1e-12)
  t.ok(ASSUMED_LINK_BYTES_PER_S > 0)
})
