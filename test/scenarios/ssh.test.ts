// Scenarios over ssh between the two hosts (network namespaces with a real sshd): live migration
// with one shard, and with two shards over two ssh connections (each ssh a shard filter); the
// pre-copy recipe; the post-copy recipe (page-feed running the lazy dump, one ssh session for the
// pages).
import t from 'tap'
import { needCriu, raisePipeMaxSize, runScenario } from '../lib/index.js'

for (const name of ['ssh-one-shard', 'ssh-two-shards', 'precopy-recipe']) {
  t.test(`scenario ${name}`, async t => {
    if (!(await needCriu(t))) return
    await runScenario(t, name)
  })
}

t.test('scenario postcopy-recipe', async t => {
  if (!(await needCriu(t))) return
  raisePipeMaxSize(t) // CRIU's lazy page server
  await runScenario(t, 'postcopy-recipe')
})
