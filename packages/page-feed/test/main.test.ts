// page-feed's exits before any dump runs: one line, and nothing claimed about a dump.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/page-feed.js')

t.test('a --base-index that cannot be read: one line, before any dump is started', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'page-feed-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'junk.idx'), 'not an index', { mode: 0o600 })
  for (const [idx, why] of [['nope.idx', /ENOENT/], ['junk.idx', /not a content index \(no magic\)/]] as const) {
    const r = spawnSync(process.execPath, [BIN, '-D', dir, '--base-index', join(dir, idx), '--', 'criu', 'dump', '-t', '1', '-D', dir, '--lazy-pages'],
      { encoding: 'utf8', timeout: 30_000 })
    t.equal(r.status, 1, `${idx}: exit 1`)
    t.match(r.stderr, new RegExp(`^page-feed: index ${join(dir, idx)}: [^\\n]*; no dump was started, the process was not touched\\n$`), `one line: ${r.stderr}`)
    t.match(r.stderr, why)
  }
})
