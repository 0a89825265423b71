// --compress auto's policy, with the waits injected: what limits a window, and where that moves
// the choice for shards leaving through a link and for shard files on a local disk.
import t from 'tap'
import { AdaptiveLevel, FILE_FLOOR, LADDER, WINDOW, decide, limitOf, type SinkKind } from '../../src/ext/adaptive.js'
import { Codec, EXT_CHUNK } from '../../src/ext/limits.js'

const rungOf = (name: string): number => LADDER.findIndex(r => r.name === name)

t.test('the limit of a window: the side that waited most of it', t => {
  t.equal(limitOf({ wallMs: 10, shardWaitMs: 6, workerWaitMs: 0.5 }), 'link', 'shard writes waited: the link')
  t.equal(limitOf({ wallMs: 10, shardWaitMs: 0.5, workerWaitMs: 6 }), 'cores', 'workers waited for, shards not: the cores')
  t.equal(limitOf({ wallMs: 10, shardWaitMs: 0.5, workerWaitMs: 0.5 }), 'neither', 'a blip each: CRIU sets the pace')
  t.equal(limitOf({ wallMs: 10, shardWaitMs: 4, workerWaitMs: 4 }), 'neither', 'balanced: neither dominates')
  t.equal(limitOf({ wallMs: 0, shardWaitMs: 0, workerWaitMs: 0 }), 'neither', 'an empty window')
  t.end()
})

t.test('decide: one rung per window, towards what limits; a local disk keeps zstd 1', t => {
  const top = LADDER.length - 1
  t.equal(decide(rungOf('lz4'), 'link', 'link'), rungOf('zstd -1'))
  t.equal(decide(top, 'link', 'link'), top, 'the top stays')
  t.equal(decide(rungOf('lz4'), 'cores', 'link'), rungOf('stored'))
  t.equal(decide(rungOf('stored'), 'cores', 'link'), rungOf('stored'))
  t.equal(decide(rungOf('zstd -1'), 'neither', 'link'), rungOf('zstd -1'))
  t.equal(LADDER[FILE_FLOOR]!.name, 'zstd 1')
  t.equal(decide(FILE_FLOOR, 'cores', 'file'), FILE_FLOOR, 'a file: not below zstd 1')
  t.equal(decide(rungOf('stored'), 'neither', 'file'), FILE_FLOOR, 'a file: up to zstd 1 at once')
  t.equal(decide(FILE_FLOOR, 'link', 'file'), FILE_FLOOR + 1, 'a slow disk: more ratio')
  t.end()
})

/** `windows` windows of chunks, each chunk taking `chunkMs` of which the waits given; the chosen rung after each. */
function simulate(sink: SinkKind, windows: number, w: { chunkMs: number; shardWaitMs: number; workerWaitMs: number }) {
  let now = 0
  const a = new AdaptiveLevel(sink, () => now)
  const seen: string[] = [a.current.name]
  for (let i = 0; i < windows * WINDOW; i++) {
    now += w.chunkMs
    a.note(w.shardWaitMs, w.workerWaitMs, EXT_CHUNK, a.index)
    if ((i + 1) % WINDOW === 0) seen.push(a.current.name)
  }
  return { a, seen }
}

t.test('a slow link (shard writes wait): up to the best ratio, and the stats say why', t => {
  const { a, seen } = simulate('link', 8, { chunkMs: 2, shardWaitMs: 1.5, workerWaitMs: 0 })
  t.same(seen.slice(0, 5), ['lz4', 'zstd -1', 'zstd 1', 'zstd 3', 'zstd 3'])
  t.equal(a.codec, Codec.ZSTD)
  t.equal(a.level, 3)
  const s = a.stats()
  t.equal(s.chose, 'zstd 3')
  t.match(s.why, /shards waited/)
  t.equal(s.limits.link, 8)
  t.equal(s.sink, 'link')
  t.equal(Object.values(s.rungs).reduce((x, y) => x + y, 0), 8 * WINDOW * EXT_CHUNK, 'every raw byte under its rung')
  t.end()
})

t.test('a fast link (workers busy, shards never wait): stores chunks as they are', t => {
  const { a, seen } = simulate('link', 6, { chunkMs: 1, shardWaitMs: 0, workerWaitMs: 0.7 })
  t.same(seen.slice(0, 3), ['lz4', 'stored', 'stored'])
  t.equal(a.codec, Codec.STORED)
  t.equal(a.stats().chose, 'stored')
  t.match(a.stats().why, /workers were busy/)
  t.end()
})

t.test('storing raw on a fast link: a short wait for a shard does not move it', t => {
  let now = 0
  const a = new AdaptiveLevel('link', () => now)
  for (let i = 0; i < WINDOW; i++) { now += 1; a.note(0, 0.8, EXT_CHUNK, a.index) }
  t.equal(a.current.name, 'stored')
  for (let i = 0; i < 4 * WINDOW; i++) { now += 1; a.note(i % WINDOW === 0 ? 0.5 : 0, 0.1, EXT_CHUNK, a.index) }
  t.equal(a.current.name, 'stored', 'a pipe briefly full now and then is no slow link')
  t.end()
})

t.test('a local disk that absorbs everything: by ratio, zstd 1, even with the workers busy', t => {
  const idle = simulate('file', 4, { chunkMs: 1, shardWaitMs: 0, workerWaitMs: 0 })
  t.same(idle.seen, ['zstd 1', 'zstd 1', 'zstd 1', 'zstd 1', 'zstd 1'])
  t.match(idle.a.stats().why, /local disk|absorbs everything/)
  const busy = simulate('file', 4, { chunkMs: 1, shardWaitMs: 0, workerWaitMs: 0.8 })
  t.equal(busy.a.current.name, 'zstd 1')
  t.equal(busy.a.stats().limits.cores, 4, 'the cores limited, and the stats say so')
  const slow = simulate('file', 4, { chunkMs: 1, shardWaitMs: 0.8, workerWaitMs: 0 })
  t.equal(slow.a.current.name, 'zstd 3', 'a disk slower than the dump: more ratio')
  t.end()
})
