// The README's first command as a new user runs it: scripts/demo.sh, outside the test runner's
// NODE_PATH and NODE_OPTIONS. Twice a binary died at start there while every test passed (a
// module "not found" after an fstat of a FIFO, nodejs/node#51142: the runner's NODE_PATH hid it).
import t from 'tap'
import { join } from 'node:path'
import { needCriu } from '../lib/index.js'
import { startShell } from '../lib/bins.js'
import { repoRoot } from '../lib/paths.js'

t.test('bash scripts/demo.sh: a real process checkpointed through the pipeline, restored, and it continues', async t => {
  if (!(await needCriu(t))) return
  const r = await (await startShell(`exec env -u NODE_OPTIONS -u NODE_PATH bash ${join(repoRoot(), 'scripts', 'demo.sh')}`)).done
  t.equal(r.exitCode, 0, `${r.stdout.slice(-800)}\n${r.stderr.slice(-800)}`)
})
