// Scenarios over ssh between the two hosts (network namespaces with a real sshd): live migration
// with one shard, and with two shards over two ssh connections (each ssh a shard filter).
import t from 'tap'
import { needCriu, runScenario } from '../lib/index.js'

for (const name of ['ssh-one-shard', 'ssh-two-shards', 'precopy-recipe']) {
  t.test(`scenario ${name}`, async t => {
    if (!(await needCriu(t))) return
    await runScenario(t, name)
  })
}
