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

t.test('auto over a link: the codec and level follow what the writer waits for', t => {
  const a = new AdaptiveLevel('link')
  let now = 0
  // one chunk every millisecond, of which `link` ms waiting for the link and `workers` for
  // workers; `drained`: the shard pipes nearly empty then
  const chunks = (n: number, link: number, workers: number, drained = true): void => { for (let i = 0; i < n; i++) a.note(link, workers, drained, ++now) }
  const rung = (): Rung => ({ codec: a.codec, level: a.level })
  t.same(rung(), { codec: Codec.ZSTD, level: 1 }, 'starts at zstd 1')
  chunks(16 * LADDER.length, 0.5, 0)
  t.same(rung(), LADDER[LADDER.length - 1], 'the link makes it wait: up to the best ratio')
  chunks(16 * LADDER.length, 0, 0.5)
  t.same(rung(), LADDER[0], 'workers waited for, never the link: down to storing chunks as they are')
  t.equal(a.codec, Codec.STORED)
  chunks(16 * 2, 0, 0.5)
  t.same(rung(), LADDER[0], 'the link still keeps up: stays')
  chunks(1, 0.01, 0)
  t.same(rung(), { codec: Codec.LZ4, level: 0 }, 'the first wait for the link: back to lz4 at once')
  chunks(16 * 2, 0, 0)
  t.same(rung(), { codec: Codec.LZ4, level: 0 }, 'neither waits (CRIU is the limit): stays')
  chunks(16 * 2, 0.05, 0.5)
  t.same(rung(), { codec: Codec.LZ4, level: 0 }, 'the link waited for now and then: not down to raw, though the workers wait more')
  chunks(16, 0.3, 0.5)
  t.same(rung(), { codec: Codec.LZ4, level: 0 }, 'both wait, the workers more: stays')
  chunks(16, 0.5, 0)
  t.same(rung(), { codec: Codec.ZSTD, level: -1 }, 'the link waits: up')
  chunks(16 * 4, 0, 0.5, false)
  t.same(rung(), { codec: Codec.ZSTD, level: -1 }, 'workers waited for, the link not yet, but the pipes fill up: the link will be the limit, stays')
  chunks(16, 0, 0.5)
  t.same(rung(), { codec: Codec.LZ4, level: 0 }, 'the pipes drained: down')
  t.end()
})

t.test('auto to a local disk: zstd -1, whatever waits', t => {
  const a = new AdaptiveLevel('disk')
  for (let i = 0; i < 16 * LADDER.length; i++) a.note(i % 2, 5, false, i)
  t.same({ codec: a.codec, level: a.level }, { codec: Codec.ZSTD, level: 1 })
  t.end()
})
