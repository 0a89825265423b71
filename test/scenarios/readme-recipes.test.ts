// Every `sh` block of README.md that runs something is tested as written, or says why not: the
// line before it is `<!-- recipe: NAME -->` (run here by scripts/scenarios/recipe.sh, three
// rounds on one process, a reader filling in only $PID), `<!-- scenario: NAME -->` (read from
// the README by a scenario script, which its own test runs), or `<!-- not tested: WHY -->`.
import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { needCriu, repoRoot, runScenario } from '../lib/index.js'

const readme = readFileSync(join(repoRoot(), 'README.md'), 'utf8').split('\n')
const blocks = readme.flatMap((line, i) => {
  if (line !== '```sh') return []
  let j = i - 1
  while (j >= 0 && readme[j]!.trim() === '') j--
  return [{ line: i + 1, tag: readme[j] ?? '' }]
})
const TAG = /^<!-- (recipe|scenario|not tested): (.+) -->$/
const scenarios = join(repoRoot(), 'scripts', 'scenarios')
const scripts = readdirSync(scenarios).filter(f => f.endsWith('.sh')).map(f => [f.slice(0, -3), readFileSync(join(scenarios, f), 'utf8')] as const)

t.test('every sh block is tagged', async t => {
  t.ok(blocks.length >= 5, `${blocks.length} sh blocks`)
  for (const b of blocks) {
    const m = TAG.exec(b.tag)
    t.ok(m, `README.md:${b.line}: tagged recipe, scenario or not tested (found ${JSON.stringify(b.tag)})`)
    if (m?.[1] === 'scenario') {
      const name = m[2]!
      t.ok(scripts.some(([s, text]) => s === name || new RegExp(`readme_recipe ${name}\\b`).test(text)), `README.md:${b.line}: a scenario script reads ${name}`)
    }
    if (m?.[1] === 'not tested') t.ok(m[2]!.length > 10, `README.md:${b.line}: says why`)
  }
})

for (const b of blocks) {
  const m = TAG.exec(b.tag)
  if (m?.[1] !== 'recipe') continue
  t.test(`recipe ${m[2]} (README.md:${b.line}), three rounds`, async t => {
    if (!(await needCriu(t))) return
    await runScenario(t, 'recipe', { RECIPE: m[2]!, ROUNDS: '3' })
  })
}
