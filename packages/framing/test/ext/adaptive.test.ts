// --compress auto's policy, with the waits injected: what limits a window, and where that moves
// the choice for shards leaving through a link and for shard files on a local disk.
import t from 'tap'
import { AdaptiveLevel, FILE_FLOOR, GAIN, LADDER, WINDOW, decide, limitOf, type SinkKind } from '../../src/ext/adaptive.js'
import { EXT_CHUNK } from '../../src/ext/limits.js'

const rungOf = (name: string): number => LADDER.findIndex(r => r.name === name)

t.test('the limit of a window: the side that waited most of it', t => {
  t.equal(limitOf({ wallMs: 10, shardWaitMs: 6, workerWaitMs: 0.5 }), 'link', 'shard writes waited: the link')
  t.equal(limitOf({ wallMs: 10, shardWaitMs: 0.5, workerWaitMs: 6 }), 'cores', 'workers waited for, shards not: the cores')
  t.equal(limitOf({ wallMs: 10, shardWaitMs: 0.5, workerWaitMs: 0.5 }), 'neither', 'a blip each: CRIU sets the pace')
  t.equal(limitOf({ wallMs: 10, shardWaitMs: 4, workerWaitMs: 4 }), 'neither', 'balanced: neither dominates')
  t.equal(limitOf({ wallMs: 0, shardWaitMs: 0, workerWaitMs: 0 }), 'neither', 'an empty window')
  t.end()
})

t.test('decide: the position moves by GAIN x (link share - cores share); a local disk keeps zstd 1', t => {
  const top = LADDER.length - 1
  const w = (shard: number, worker: number) => ({ wallMs: 10, shardWaitMs: shard, workerWaitMs: worker })
  t.equal(GAIN, 0.5)
  t.equal(decide(rungOf('lz4'), w(10, 0), 'link'), 1.5, 'a window all spent waiting for the link: half a rung up')
  t.equal(decide(rungOf('lz4'), w(5, 5), 'link'), 1, 'as long for each: stays (both busy)')
  t.equal(decide(top, w(10, 0), 'link'), top, 'the top stays')
  t.equal(decide(rungOf('lz4'), w(0, 5), 'link'), 0.75, 'waiting for the workers half the time: a quarter rung down')
  t.equal(decide(0.1, w(0, 10), 'link'), 0, 'not below storing raw')
  t.equal(decide(2.5, w(0, 0), 'link'), 2.5, 'nothing waited: stays')
  t.equal(LADDER[FILE_FLOOR]!.name, 'zstd 1')
  t.equal(decide(FILE_FLOOR, w(0, 10), 'file'), FILE_FLOOR, 'a file: not below zstd 1')
  t.equal(decide(rungOf('stored'), w(0, 0), 'file'), FILE_FLOOR, 'a file: up to zstd 1 at once')
  t.equal(decide(FILE_FLOOR, w(10, 0), 'file'), FILE_FLOOR + GAIN, 'a slow disk: more ratio')
  t.end()
})

/**
 * `windows` windows of chunks through a simulated pipeline: `cost(rung)` says how long the
 * main thread waited for a shard and for a worker around a chunk at that rung, and how long the
 * chunk took in all. Returns auto and the share of chunks sent at each rung in the last half.
 */
function simulate(sink: SinkKind, windows: number, cost: (rung: number) => { ms: number; shard: number; worker: number }) {
  let now = 0
  const a = new AdaptiveLevel(sink, () => now)
  const late = LADDER.map(() => 0)
  const total = windows * WINDOW
  for (let i = 0; i < total; i++) {
    const rung = a.next()
    const c = cost(rung)
    now += c.ms
    a.note(c.shard, c.worker, EXT_CHUNK, rung)
    if (i >= total / 2) late[rung]! += 2 / total
  }
  return { a, late }
}

t.test('a slow link (shard writes wait): up to the best ratio, and the stats say why', t => {
  const { a, late } = simulate('link', 40, () => ({ ms: 2, shard: 1.5, worker: 0 }))
  t.equal(a.current.name, 'zstd 3')
  t.ok(late[LADDER.length - 1]! > 0.999, 'every late chunk at the top')
  const s = a.stats()
  t.equal(s.chose, 'zstd 3')
  t.match(s.why, /shards waited/)
  t.equal(s.limits.link, 40)
  t.equal(s.sink, 'link')
  t.equal(Object.values(s.rungs).reduce((x, y) => x + y, 0), 40 * WINDOW * EXT_CHUNK, 'every raw byte under its rung')
  t.end()
})

t.test('a fast link (workers busy, shards never wait): stores chunks as they are', t => {
  const { a } = simulate('link', 12, () => ({ ms: 1, shard: 0, worker: 0.7 }))
  t.equal(a.position, 0)
  t.equal(a.stats().chose, 'stored')
  t.match(a.stats().why, /workers were busy/)
  t.end()
})

t.test('storing raw on a fast link: a short wait for a shard now and then does not move it', t => {
  let i = 0
  const { a } = simulate('link', 20, () => ({ ms: 1, shard: i++ % WINDOW === 0 ? 0.5 : 0, worker: 0.8 }))
  t.equal(a.current.name, 'stored', 'a pipe briefly full now and then is no slow link')
  t.end()
})

t.test('link and cores both limiting: the mix that keeps both busy, not half and half', t => {
  // A slow link: a raw chunk takes 2.6 ms of it, an lz4 chunk 0.6 ms; lz4 costs the cores 0.9 ms.
  // The main thread waits for whichever is slower for that chunk. The balance is at about 1 raw
  // chunk in 10 (0.9 - 0.9 f = 0.6 + 2 f); a rung-per-window swing would send half raw.
  const cost = (rung: number) => {
    const link = rung === 0 ? 2.6 : 0.6, cores = rung === 0 ? 0.05 : 0.9
    return { ms: Math.max(link, cores), shard: Math.max(0, link - cores), worker: Math.max(0, cores - link) }
  }
  const { a, late } = simulate('link', 200, cost)
  t.ok(a.position > 0 && a.position < 2, `between raw and zstd -1: ${a.position}`)
  t.ok(late[0]! < 0.3, `raw chunks late in the run: ${(100 * late[0]!).toFixed(0)} %`)
  t.end()
})

t.test('a local disk that absorbs everything: by ratio, zstd 1, even with the workers busy', t => {
  const idle = simulate('file', 4, () => ({ ms: 1, shard: 0, worker: 0 }))
  t.equal(idle.a.current.name, 'zstd 1')
  t.ok(idle.late[FILE_FLOOR]! > 0.999, 'every chunk at zstd 1')
  t.match(idle.a.stats().why, /absorbs everything/)
  const busy = simulate('file', 4, () => ({ ms: 1, shard: 0, worker: 0.8 }))
  t.equal(busy.a.current.name, 'zstd 1')
  t.equal(busy.a.stats().limits.cores, 4, 'the cores limited, and the stats say so')
  t.match(busy.a.stats().why, /not below zstd 1/)
  const slow = simulate('file', 8, () => ({ ms: 1, shard: 0.8, worker: 0 }))
  t.equal(slow.a.current.name, 'zstd 3', 'a disk slower than the dump: more ratio')
  t.end()
})
