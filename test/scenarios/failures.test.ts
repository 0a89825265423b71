// Scenarios where something fails and nothing may be lost: an uploader that reads its whole
// shard and then exits 1 makes `criu dump` fail, and the process keeps running intact.
import t from 'tap'
import { needCriu, runScenario } from '../lib/index.js'

t.test('scenario failing-uploader', async t => {
  if (!(await needCriu(t))) return
  const out = await runScenario(t, 'failing-uploader')
  t.match(out, /^img-split: shard 1 of 2: filter .* exited with status 1$/m, 'img-split names the shard and the status')
})
