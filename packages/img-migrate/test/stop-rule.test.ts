import t from 'tap'
import { PRECOPY_STOP_PERCENT, afterRound } from '../src/stop-rule.js'

t.test('pre-copy goes on while rounds shrink enough, up to --max-rounds', async t => {
  t.same(afterRound([1000], 4), { stop: false, why: '' }, 'one round says nothing about the rate')
  t.same(afterRound([1000, 100], 4).stop, false, 'a tenth: another round')
  t.same(afterRound([1000, 100, 10, 1], 4), { stop: true, why: '--max-rounds 4 reached' })
  t.same(afterRound([1000], 1), { stop: true, why: '--max-rounds 1 reached' })
})

t.test(`a round that sent more than ${PRECOPY_STOP_PERCENT} % of the previous one stops pre-copy`, async t => {
  t.same(afterRound([1000, 500], 9).stop, false, 'exactly the share: goes on')
  t.same(afterRound([1000, 501], 9), { stop: true, why: `round 2 sent 50 % of round 1's bytes (the rule stops above ${PRECOPY_STOP_PERCENT} %)` })
  t.match(afterRound([1000, 100, 90], 9).why, /round 3 sent 90 % of round 2/)
  t.match(afterRound([0, 10], 9).why, /round 2 sent 100 %/, 'growing from nothing')
})
