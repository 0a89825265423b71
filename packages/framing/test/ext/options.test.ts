import t from 'tap'
import { parseCompress, isExtended } from '../../src/index.js'
import { AdaptiveLevel, LADDER } from '../../src/ext/adaptive.js'

t.test('--compress values', t => {
  t.same(parseCompress('none'), { compress: 'none', level: 1 })
  t.same(parseCompress('lz4'), { compress: 'lz4', level: 1 })
  t.same(parseCompress('zstd'), { compress: 'zstd', level: 1 })
  t.same(parseCompress('zstd:-3'), { compress: 'zstd', level: -3 })
  t.same(parseCompress('zstd:19'), { compress: 'zstd', level: 19 })
  t.same(parseCompress('auto'), { compress: 'auto', level: 1 })
  for (const bad of ['zstd:20', 'lz4:3', 'gzip', 'zstd:', 'auto:1', '']) t.equal(parseCompress(bad), null, bad)
  const o = { compress: 'none' as const, level: 1, checksum: false, key: null, threads: 1 }
  t.notOk(isExtended(o), 'no option: the plain stream')
  t.ok(isExtended({ ...o, checksum: true }), '--checksum alone extends it')
  t.end()
})

t.test('auto: the zstd level follows what the pipeline waits on', t => {
  const a = new AdaptiveLevel()
  const start = a.level
  for (let i = 0; i < 16 * LADDER.length; i++) a.note(5, 0)
  t.equal(a.level, LADDER[LADDER.length - 1], 'shards full: up to the best ratio')
  for (let i = 0; i < 16 * LADDER.length; i++) a.note(0, 5)
  t.equal(a.level, LADDER[0], 'workers busy: down to the fastest')
  for (let i = 0; i < 16 * 2; i++) a.note(1, 1)
  t.equal(a.level, LADDER[0], 'balanced: stays')
  t.ok(LADDER.includes(start as never))
  t.end()
})
