// Decoding threads started before the stream is read, without their init value (img-buffer starts
// them with the process): DecodingReader hands them the stream header's settings and uses them, or
// lets them go when the stream needs none.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import type { ExtWriteOptions } from '../../src/index.js'
import { opensExtended, startDecodePool } from '../../src/ext/decode-pool.js'
import { makePipe, writeAll } from '@criu-pipes/sys'
import type { ChunkJob } from '../../src/ext/jobs.js'
import { tmp, rng, mixedBytes, writeImage, readImage, plainShard } from './streams.js'

const NO_JOB = { op: 'decode' } as ChunkJob

t.test('an early pool is taken over at the stream header: every chunk decoded by it, and it is closed with the reader', t => {
  const rand = rng(7)
  const files = { 'inventory.img': Buffer.from('inventory'), 'pagemap-1.img': mixedBytes(rand, 30_000), 'pages-1.img': mixedBytes(rand, 1_200_000) }
  const opts: ExtWriteOptions = { compress: 'lz4', level: 1, checksum: true, key: null, threads: 2 }
  for (const [mode, o] of [['lz4', opts], ['auto + encrypt', { ...opts, compress: 'auto', checksum: false, key: randomBytes(32) }]] as const) {
    const pool = startDecodePool(2)
    const got = readImage(writeImage(tmp(t), 2, files, o, rng(3)), o.key, 2, null, null, pool)
    t.ok(Object.entries(files).every(([n, b]) => got[n]?.equals(b)), `${mode}: every byte, decoded with the settings given at the header`)
    t.throws(() => pool.submit(pool.slots[0]!, NO_JOB), /closed pool/, `${mode}: the reader closed it`)
  }
  t.end()
})

t.test('a plain stream lets the early pool go, never given its init value', t => {
  const p = plainShard(tmp(t))
  const pool = startDecodePool(2)
  t.same(readImage([p], null, 2, null, null, pool), { 'a.img': Buffer.from('abc') }, 'the stream read as it is')
  t.throws(() => pool.submit(pool.slots[0]!, NO_JOB), /before the pool has its init value|closed pool/, 'no job can go to it')
  pool.close()
  t.end()
})

t.test('an early pool of another thread count is let go, and the reader starts its own', t => {
  const files = { 'pages-1.img': mixedBytes(rng(9), 600_000) }
  const pool = startDecodePool(1)
  const got = readImage(writeImage(tmp(t), 1, files, { compress: 'zstd', level: 1, checksum: true, key: null, threads: 1 }, rng(4)), null, 2, null, null, pool)
  t.ok(got['pages-1.img']?.equals(files['pages-1.img']), 'every byte')
  t.throws(() => pool.submit(pool.slots[0]!, NO_JOB), /before the pool has its init value|closed pool/, 'the early pool was let go')
  pool.close()
  t.end()
})

t.test('opensExtended: a shard file whose next marker is a stream header, seen without moving its offset', t => {
  const [extended] = writeImage(tmp(t), 1, { 'a.img': Buffer.from('abc') }, { compress: 'lz4', level: 1, checksum: true, key: null, threads: 1 }, rng(1))
  const plain = plainShard(tmp(t))
  const fd = openSync(extended!, 'r')
  t.ok(opensExtended(fd), 'an extended shard file')
  t.equal(readSync(fd, Buffer.alloc(4), 0, 4, null), 4, 'its offset not moved: the marker is still there to read')
  t.notOk(opensExtended(fd), 'from the middle of a marker: no')
  closeSync(fd)
  const p = openSync(plain, 'r')
  t.notOk(opensExtended(p), 'a plain shard file')
  closeSync(p)
  const [r, wr] = makePipe()
  writeAll(wr, Buffer.alloc(64))
  t.notOk(opensExtended(r), 'a pipe: never looked into')
  closeSync(r); closeSync(wr)
  t.notOk(opensExtended(1 << 20), 'an fd that is not open')
  t.end()
})
