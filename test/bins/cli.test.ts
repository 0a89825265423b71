// What a new user meets first: --version prints the package's version, --help's description
// is one paragraph that yargs wraps (no line break in the middle of a sentence).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../lib/index.js'
import { bin, startShell } from '../lib/bins.js'

const BINS = ['img-split', 'img-join', 'img-buffer', 'uffd-serve', 'crit-make-lazy']

for (const name of BINS) {
  t.test(`${name} --version and --help`, async t => {
    const pkg = JSON.parse(readFileSync(join(repoRoot(), 'packages', name, 'package.json'), 'utf8')) as { version: string }
    const v = await (await startShell(`${bin(name)} --version`)).done
    t.equal(v.exitCode, 0)
    t.equal(v.stdout.trim(), pkg.version, 'the package version')
    const h = await (await startShell(`${bin(name)} --help`)).done
    t.equal(h.exitCode, 0)
    const description = h.stdout.split('\n\n')[1] ?? ''
    // A line of a wrapped paragraph ends where the next word would not fit: a line much shorter
    // than the others, followed by more text, is a hard break inside the paragraph.
    const lines = description.split('\n')
    const width = Math.max(...lines.map(l => l.length))
    const short = lines.slice(0, -1).filter(l => l.length < width - 20)
    t.same(short, [], `the description wraps as one paragraph:\n${description}`)
  })
}
