import t from 'tap'
import { parseCompress, isExtended } from '../../src/index.js'

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
