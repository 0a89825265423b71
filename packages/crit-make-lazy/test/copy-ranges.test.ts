import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { copyRanges } from '../src/copy-ranges.js'
import { MakeLazyError } from '../src/make-lazy-error.js'

const SRC_BYTES = 100_000
const src = Buffer.from(Array.from({ length: SRC_BYTES }, (_, i) => (i * 7) & 0xff))

t.test('copies the ranges in order, across chunk boundaries', async (t) => {
  const dir = t.testdir({ src: src })
  const ranges = [{ offset: 0, length: 10 }, { offset: 500, length: 40_000 }, { offset: 99_000, length: 1000 }]
  copyRanges(join(dir, 'src'), join(dir, 'dst'), ranges, 0o640, 4096)
  t.same(readFileSync(join(dir, 'dst')), Buffer.concat(ranges.map((r) => src.subarray(r.offset, r.offset + r.length))))
  t.equal(statSync(join(dir, 'dst')).mode & 0o777, 0o640)
  copyRanges(join(dir, 'src'), join(dir, 'empty'), [], 0o600)
  t.equal(statSync(join(dir, 'empty')).size, 0)
})

t.test('a source that ends early is an error, an existing destination too', async (t) => {
  const dir = t.testdir({ src: src })
  truncateSync(join(dir, 'src'), 50_000)
  t.throws(() => copyRanges(join(dir, 'src'), join(dir, 'dst'), [{ offset: 40_000, length: 20_000 }], 0o600, 4096), {
    constructor: MakeLazyError,
    message: /ended at byte 50000 while copying/,
  })
  writeFileSync(join(dir, 'exists'), 'x')
  t.throws(() => copyRanges(join(dir, 'src'), join(dir, 'exists'), [], 0o600), { code: 'EEXIST' })
})
