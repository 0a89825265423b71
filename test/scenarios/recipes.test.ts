// The README's local recipes, run as the README shows them: lz4 per shard, and img-split started
// by CRIU's own pre-stream action script.
import t from 'tap'
import { needCriu, runScenario } from '../lib/index.js'

for (const name of ['lz4-per-shard', 'pre-stream-hook']) {
  t.test(`scenario ${name}`, async t => {
    if (!(await needCriu(t))) return
    await runScenario(t, name)
  })
}
