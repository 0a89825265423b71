import t from 'tap'
import { parseCompress, isExtended } from '../../src/index.js'
import { AdaptiveLevel, LADDER, type Rung } from '../../src/ext/adaptive.js'
import { Codec } from '../../src/ext/limits.js'

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

t.test('auto: the codec and level follow what the pipeline waits on', t => {
  const a = new AdaptiveLevel()
  const rung = (): Rung => ({ codec: a.codec, level: a.level })
  t.same(rung(), { codec: Codec.ZSTD, level: 1 }, 'starts at zstd 1')
  for (let i = 0; i < 16 * LADDER.length; i++) a.note(5, 0)
  t.same(rung(), LADDER[LADDER.length - 1], 'shards full: up to the best ratio')
  t.equal(a.codec, Codec.ZSTD)
  for (let i = 0; i < 16 * LADDER.length; i++) a.note(0, 5)
  t.same(rung(), LADDER[0], 'workers busy, shards never full: down to storing chunks as they are')
  t.equal(a.codec, Codec.STORED)
  for (let i = 0; i < 16 * 2; i++) a.note(0, 1)
  t.same(rung(), LADDER[0], 'the link still keeps up: stays')
  a.note(1, 0)
  t.same(rung(), { codec: Codec.ZSTD, level: -5 }, 'the first wait for a shard: back to the fastest zstd at once')
  for (let i = 0; i < 16 * 2; i++) a.note(1, 3)
  t.same(rung(), { codec: Codec.ZSTD, level: -5 }, 'a window that waited for a shard at all never goes down to raw')
  for (let i = 0; i < 16; i++) a.note(1, 1)
  t.same(rung(), { codec: Codec.ZSTD, level: -5 }, 'balanced: stays')
  t.end()
})
