// Every script in scripts/scenarios/ is run by a test here: its name appears in one of the
// scenario test files (a new scenario without a test fails this).
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { repoRoot } from '../lib/index.js'

t.test('every scenario script has a test', async t => {
  const scripts = readdirSync(join(repoRoot(), 'scripts', 'scenarios'))
    .filter(f => f.endsWith('.sh') && f !== 'lib.sh').map(f => f.slice(0, -3))
  t.ok(scripts.length >= 5, `${scripts.length} scenario scripts`)
  const here = dirname(fileURLToPath(import.meta.url))
  const tests = readdirSync(here).filter(f => f.endsWith('.test.js') && !f.startsWith('every-script'))
    .map(f => readFileSync(join(here, f), 'utf8')).join('\n')
  for (const s of scripts) t.match(tests, `'${s}'`, `${s}.sh is run by a test`)
})
