// StoredFile and FileShard without CRIU: where each payload ends up (copied, or only located in
// the shard file), that a truncated shard file is seen as truncated, and contents() over all kinds.
import t, { type Test } from 'tap'
import { appendFileSync, closeSync, openSync, readSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makePipe, writeAll, close, lseek, SEEK_CUR } from '@criu-pipes/sys'
import { StoredFile } from '../src/store.js'
import { FileShard } from '../src/file-shard.js'

const pattern = (n: number, seed: number) => {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff
  return b
}

/** A stand-in shard file: `gap` bytes of "marker" before each payload. */
function shardFile(t: Test, payloads: Buffer[], gap = 7): { fd: number; path: string } {
  const path = join(t.testdir(), 'shard')
  writeFileSync(path, Buffer.concat(payloads.flatMap(p => [Buffer.alloc(gap, 0xee), p])))
  const fd = openSync(path, 'r')
  t.teardown(() => closeSync(fd))
  return { fd, path }
}
const skipMarker = (fd: number, gap = 7) => readSync(fd, Buffer.alloc(gap), 0, gap, null)

t.test('payloads in a shard file are located, not copied; a small file is copied', async t => {
  const a = pattern(1000, 1), b = pattern(3000, 2), c = pattern(200_000, 3), d = pattern(5, 4)
  const { fd } = shardFile(t, [a, b, c, d])
  const shard = new FileShard(fd)
  const f = new StoredFile()
  skipMarker(fd); t.equal(f.locate(shard, a.length), a.length)
  skipMarker(fd); t.equal(f.locate(shard, b.length), b.length)
  t.equal(f.chunks.length, 0, 'up to 4 KiB the file is still a small buffer')
  skipMarker(fd); t.equal(f.locate(shard, c.length), c.length)
  skipMarker(fd); t.equal(f.locate(shard, d.length), d.length)
  f.seal()
  t.same(f.chunks.map(ch => ch.kind), ['bytes', 'file-range', 'file-range'], 'small buffer first, then ranges of the file')
  t.match(f.chunks[1], { kind: 'file-range', fd, position: 7 * 3 + a.length + b.length, length: c.length })
  t.equal(lseek(fd, 0, SEEK_CUR), 4 * 7 + a.length + b.length + c.length + d.length, 'the fd offset is past every payload')
  t.equal(f.size, a.length + b.length + c.length + d.length)
  t.ok(f.contents().equals(Buffer.concat([a, b, c, d])), 'contents() reads the ranges back')
})

t.test('a file of exactly 4 KiB stays one small buffer', async t => {
  const { fd } = shardFile(t, [pattern(4000, 1), pattern(96, 2)])
  const shard = new FileShard(fd)
  const f = new StoredFile()
  skipMarker(fd); f.locate(shard, 4000)
  skipMarker(fd); f.locate(shard, 96)
  f.seal()
  t.same(f.chunks.map(ch => ch.kind), ['bytes'])
  t.ok(f.contents().equals(Buffer.concat([pattern(4000, 1), pattern(96, 2)])))
})

t.test('a payload that runs past the end of the shard file counts only the bytes there', async t => {
  const { fd } = shardFile(t, [pattern(100_000, 1)])
  const shard = new FileShard(fd)
  const f = new StoredFile()
  skipMarker(fd)
  t.equal(f.locate(shard, 150_000), 100_000, 'what the file holds, so the reader reports it truncated')
  t.equal(lseek(fd, 0, SEEK_CUR), 7 + 100_000, 'and the offset stays at the real end')
})

t.test('a shard file still growing: its size is looked at again before a payload is called short', async t => {
  const { fd, path } = shardFile(t, [pattern(10_000, 1)])
  const shard = new FileShard(fd)
  appendFileSync(path, Buffer.concat([Buffer.alloc(7), pattern(20_000, 2)]))
  const f = new StoredFile()
  skipMarker(fd); t.equal(f.locate(shard, 10_000), 10_000)
  skipMarker(fd); t.equal(f.locate(shard, 20_000), 20_000, 'the appended payload is there')
  t.ok(f.contents().equals(Buffer.concat([pattern(10_000, 1), pattern(20_000, 2)])))
})

t.test('pipe payloads (copied into regions) and file payloads mix in one file', async t => {
  const fromFile = pattern(50_000, 5)
  const { fd } = shardFile(t, [fromFile])
  const shard = new FileShard(fd)
  const [r, w] = makePipe()
  const f = new StoredFile()
  const first = pattern(60_000, 6), last = pattern(9_000_000, 7)
  writeAll(w, first)
  t.equal(f.fill(r, first.length), first.length)
  skipMarker(fd); f.locate(shard, fromFile.length)
  // 9 MB through a 64 KiB pipe, 64 KiB at a time: more than one 8 MiB region.
  let done = 0
  while (done < last.length) {
    const n = Math.min(65536, last.length - done)
    writeAll(w, last, done, n)
    t.equal(f.fill(r, n), n)
    done += n
  }
  close(w)
  t.equal(f.fill(r, 10), 0, 'EOF: nothing arrives')
  close(r)
  f.seal()
  const kinds = f.chunks.map(ch => ch.kind)
  t.equal(kinds[0], 'region')
  t.equal(kinds[1], 'file-range')
  t.ok(kinds.slice(2).every(k => k === 'region') && kinds.length > 3, 'a new region after the range, several for 9 MB')
  t.ok(f.contents().equals(Buffer.concat([first, fromFile, last])))
  f.free()
  f.free()
  t.pass('free() twice is harmless')
})

t.test('replace() after a patch: one Buffer, whatever the chunks were', async t => {
  const { fd } = shardFile(t, [pattern(30_000, 1)])
  const shard = new FileShard(fd)
  const f = new StoredFile()
  skipMarker(fd); f.locate(shard, 30_000)
  f.seal()
  f.replace(Buffer.from('patched'))
  t.same(f.chunks.map(ch => ch.kind), ['bytes'])
  t.equal(f.size, 7)
  t.equal(f.contents().toString(), 'patched')
})
