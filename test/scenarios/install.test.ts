// scripts/install.sh, then the README's first recipe with only the installed copy on PATH (three
// rounds), man pages and completion in place, --uninstall exact: scripts/scenarios/installed.sh.
// The README's other local recipes, as written: scripts/scenarios/recipe.sh.
import t from 'tap'
import { needCriu, runScenario } from '../lib/index.js'

t.test("scenario 'installed'", async t => {
  if (!(await needCriu(t))) return
  await runScenario(t, 'installed')
})
