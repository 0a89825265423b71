// Pre-copy migration by content between the two hosts (network namespaces with a real sshd):
// round 1 left running into the destination's base, round 2 as a delta restored from base + delta.
import t from 'tap'
import { needCriu, runScenario } from '../lib/index.js'

t.test('scenario precopy', async t => {
  if (!(await needCriu(t))) return
  const out = await runScenario(t, 'precopy')
  t.match(out, /^round 2 sent \d+ bytes, [.\d]+ % of the full image/m, 'the final round sent a small delta')
})
