import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { close, openPrivateDir } from '@criu-pipes/sys'
import { buildThenRename as buildIn } from '../src/build-then-rename.js'

/** DST as a path, its parent opened (and checked) for the call, as makeLazy does. */
function buildThenRename(dst: string, build: (tmp: string) => void): void {
  const parent = openPrivateDir(join(dst, '..'))
  try { buildIn(parent, dst.slice(dst.lastIndexOf('/') + 1), build) } finally { close(parent) }
}

t.test('the directory appears complete, or not at all', async (t) => {
  const dir = t.testdir()
  buildThenRename(join(dir, 'ok'), (tmp) => writeFileSync(join(tmp, 'f'), 'x'))
  t.equal(readFileSync(join(dir, 'ok', 'f'), 'utf8'), 'x')
  t.throws(() => buildThenRename(join(dir, 'bad'), (tmp) => {
    writeFileSync(join(tmp, 'f'), 'x')
    throw new Error('boom')
  }), { message: 'boom' })
  t.same(readdirSync(dir), ['ok'], 'no DST, no temp dir left')
})

t.test('an empty DST directory is replaced; a non-empty one is not', async (t) => {
  const dir = t.testdir()
  mkdirSync(join(dir, 'empty'))
  buildThenRename(join(dir, 'empty'), (tmp) => writeFileSync(join(tmp, 'f'), 'x'))
  t.ok(existsSync(join(dir, 'empty', 'f')))
  mkdirSync(join(dir, 'full'))
  writeFileSync(join(dir, 'full', 'keep'), 'k')
  t.throws(() => buildThenRename(join(dir, 'full'), () => {}), { code: 'ENOTEMPTY' })
  t.same(readdirSync(join(dir, 'full')), ['keep'])
  t.same(readdirSync(dir).sort(), ['empty', 'full'])
})
