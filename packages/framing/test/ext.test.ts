import t, { type Test as Tap } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Zstd } from '../src/ext/native-codecs.js'
import { ShardWriter, FramingError, Codec, encodeMarker, type ExtWriteOptions, type Marker } from '../src/index.js'
import { tmp, rng, mixedBytes, writeImage, readImage, parseShard, writeShard, type Files, type Rec } from './ext/streams.js'

const KEY = randomBytes(32)
const base: ExtWriteOptions = { compress: 'none', level: 1, checksum: false, key: null, threads: 2 }
const modes: Record<string, ExtWriteOptions> = {
  'checksum only': { ...base, checksum: true },
  lz4: { ...base, compress: 'lz4', checksum: true },
  'zstd:3': { ...base, compress: 'zstd', level: 3, checksum: true },
  auto: { ...base, compress: 'auto', checksum: true },
  'auto + encrypt': { ...base, compress: 'auto', key: KEY },
  'lz4, no checksum': { ...base, compress: 'lz4' },
}

function image(seed: number): Files {
  const rand = rng(seed)
  return {
    'inventory.img': Buffer.from('inventory'),
    'empty.img': Buffer.alloc(0),
    'pages-1.img': mixedBytes(rand, 1 + Math.floor(rand() * 1_500_000)),
    'pagemap-1.img': mixedBytes(rand, 1 + Math.floor(rand() * 50_000)),
    'zeros.img': Buffer.alloc(700_000),
  }
}

t.test('the extended markers round-trip for every codec over 1..8 shards and random chunk sizes', t => {
  // Every mode over every shard count would take minutes (two pools of workers per stream): the
  // modes take turns over 1..8 shards, twice round, so each mode meets several shard counts.
  const entries = Object.entries(modes)
  for (let seed = 1; seed <= 16; seed++) {
    const shards = 1 + ((seed - 1) % 8)
    const [mode, opts] = entries[(seed - 1) % entries.length]!
    {
      const files = image(seed)
      const paths = writeImage(tmp(t), shards, files, opts, rng(seed))
      const got = readImage(paths, opts.key)
      t.same(Object.keys(got).sort(), Object.keys(files).sort(), `${mode}, ${shards} shards: every file`)
      t.ok(Object.entries(files).every(([n, b]) => got[n]!.equals(b)), `${mode}, ${shards} shards: every byte`)
    }
  }
  t.end()
})

t.test('the codecs are really used: zstd and lz4 shrink, auto makes zero chunks', t => {
  const files = image(99)
  for (const [mode, codec] of [['lz4', Codec.LZ4], ['zstd:3', Codec.ZSTD], ['auto', Codec.ZERO]] as const) {
    const paths = writeImage(tmp(t), 2, files, modes[mode]!, rng(5))
    const chunks = paths.flatMap(parseShard).filter(r => r.marker.body.kind === 'chunk')
    t.ok(chunks.some(r => r.marker.body.kind === 'chunk' && r.marker.body.chunk.codec === codec), `${mode}: ${codec} chunks`)
  }
  t.end()
})

t.test('without the options the stream is byte for byte the plain one', t => {
  const p = join(tmp(t), 's')
  const fd = openSync(p, 'w')
  const w = new ShardWriter([fd])
  w.write('a.img', Buffer.from('abc')); w.endFile('a.img'); w.endImage()
  closeSync(fd)
  // criu-image-streamer's markers exactly: {filename "a.img"}, {seq 1, file_data 3} abc, {seq 2, file_eof}, {seq 3, image_eof}
  t.equal(readFileSync(p).toString('hex'), '07000000' + '1205612e696d67' + '040000000801' + '1803' + '616263' + '0400000008022001' + '0400000008032801')
  t.same(readImage([p]), { 'a.img': Buffer.from('abc') }, 'and DecodingReader reads it as it is')
  t.end()
})

// ---- corruption: each refused with one line

// One large file (pages-1.img, 8 chunks over both shards) and one tiny one: every chunk with
// more than 100 stored bytes is pages-1.img's.
function damaged(t: Tap, opts: ExtWriteOptions, damage: (shards: Rec[][]) => void): string[] {
  const files = { 'inventory.img': Buffer.from('inventory'), 'pages-1.img': mixedBytes(rng(3), 2 << 20) }
  const paths = writeImage(tmp(t), 2, files, opts, rng(7))
  const shards = paths.map(parseShard)
  damage(shards)
  shards.forEach((recs, i) => writeShard(paths[i]!, recs))
  return paths
}

const chunkIn = (shards: Rec[][], nth = 1): { shard: number; i: number } => {
  for (let s = 0; s < shards.length; s++) {
    const idx = shards[s]!.map((r, i) => [r, i] as const).filter(([r]) => r.marker.body.kind === 'chunk' && r.payload.length > 100).map(([, i]) => i)
    if (idx.length > nth) return { shard: s, i: idx[nth]! }
  }
  throw new Error('no chunk found')
}
const body = (r: Rec) => (r.marker.body as { kind: 'chunk'; chunk: import('../src/index.js').ChunkHeader }).chunk

function refused(t: Tap, paths: string[], pattern: RegExp, key: Buffer | null, what: string, expectStream: Buffer | null = null): void {
  try {
    readImage(paths, key, 2, null, expectStream)
    t.fail(`${what}: accepted`)
  } catch (e) {
    t.type(e, FramingError, what)
    t.notMatch((e as Error).message, /\n/, `${what}: one line`)
    t.match((e as Error).message, pattern, `${what}: ${(e as Error).message}`)
  }
}

for (const mode of ['lz4', 'auto + encrypt'] as const) {
  const opts = modes[mode]!
  const key = opts.key
  const located = /pages-1\.img at offset \d+ \(shard \d, marker \d+\)/
  t.test(`${mode}: every corruption of a chunk is refused with one line`, t => {
    refused(t, damaged(t, opts, s => { const c = chunkIn(s); const p = s[c.shard]![c.i]!.payload; p[50] = p[50]! ^ 1 }), located, key, 'a flipped byte in the data')
    if (key) {
      refused(t, damaged(t, opts, s => { const c = chunkIn(s); const tag = body(s[c.shard]![c.i]!).tag!; tag[0] = tag[0]! ^ 1 }), located, key, 'a flipped byte in the tag')
      refused(t, damaged(t, opts, () => {}), /\.img at offset 0 .*authentication failed/, randomBytes(32), 'the wrong key')
      refused(t, damaged(t, opts, () => {}), /encrypted: give the key/, null, 'no key')
    } else {
      refused(t, damaged(t, opts, s => { const c = chunkIn(s); body(s[c.shard]![c.i]!).checksum! ^= 1n }), located, key, 'a flipped bit in the checksum')
      refused(t, damaged(t, opts, () => {}), /not encrypted/, KEY, 'a key for a plain stream')
    }
    refused(t, damaged(t, opts, s => {
      const c = chunkIn(s); const r = s[c.shard]![c.i]!; body(r).storedLength -= 1; r.payload = r.payload.subarray(1)
    }), /marker|at offset|mismatch|damaged/, key, 'a stored length that lies (shorter)')
    refused(t, damaged(t, opts, s => { const c = chunkIn(s); body(s[c.shard]![c.i]!).rawLength += 1 }), located, key, 'a raw length that lies')
    refused(t, damaged(t, opts, s => { const c = chunkIn(s); body(s[c.shard]![c.i]!).rawLength = 64 << 20 }), /out of range/, key, 'a raw length over the limit')
    refused(t, damaged(t, opts, s => { const c = chunkIn(s); s[c.shard]!.splice(c.i, 1) }), /missing/, key, 'a chunk dropped')
    refused(t, damaged(t, opts, s => { const c = chunkIn(s); s[c.shard]!.splice(c.i, 0, s[c.shard]![c.i]!) }), /again|out of order/, key, 'a chunk duplicated')
    refused(t, damaged(t, opts, s => {
      // Two chunks trade places and seqs across shards: each is intact, the order is not.
      const a = chunkIn(s, 0), b = chunkIn(s.slice().reverse(), 0); const bs = s.length - 1 - b.shard
      const ra = s[a.shard]![a.i]!, rb = s[bs]![b.i]!
      if (a.shard === bs) throw new Error('test: chunks on one shard')
      const sa = ra.marker.seq
      ra.marker = { ...ra.marker, seq: rb.marker.seq } as Marker; rb.marker = { ...rb.marker, seq: sa } as Marker
      s[a.shard]![a.i] = rb; s[bs]![b.i] = ra
    }), /at offset|trailer|order|again|missing/, key, 'two chunks swapped between shards')
    refused(t, damaged(t, opts, s => { for (const recs of s) recs.splice(Math.floor(recs.length / 2)) }), /truncated|missing|without/, key, 'a truncated stream')
    // The tail: drop the last chunk of pages-1.img and renumber everything after it.
    refused(t, damaged(t, opts, s => {
      const all = s.flatMap((recs, shard) => recs.map(r => ({ r, shard })))
      const lastChunk = all.filter(x => x.r.marker.body.kind === 'chunk').sort((x, y) => y.r.marker.seq - x.r.marker.seq)[0]!
      const dropped = lastChunk.r.marker.seq
      s[lastChunk.shard]!.splice(s[lastChunk.shard]!.indexOf(lastChunk.r), 1)
      for (const x of all) if (x.r.marker.seq > dropped) x.r.marker = { ...x.r.marker, seq: x.r.marker.seq - 1 }
    }), /trailer/, key, 'the last chunk dropped and the tail renumbered')
    refused(t, damaged(t, opts, s => {
      // A forged file_eof for a file: replaces the file's last chunk at its seq.
      const all = s.flatMap(recs => recs)
      const lastChunk = all.filter(r => r.marker.body.kind === 'chunk').sort((x, y) => y.marker.seq - x.marker.seq)[0]!
      lastChunk.marker = { seq: lastChunk.marker.seq, body: { kind: 'file_eof' } }
      lastChunk.payload = Buffer.alloc(0)
    }), /trailer|eof|open|twice|no open file/, key, 'a forged file_eof')
    t.end()
  })
}

t.test('a zstd chunk is one frame: a frame followed by a skippable or an empty frame is refused', t => {
  const empty = Buffer.alloc(64)
  const emptyFrame = empty.subarray(0, new Zstd().compress(empty, Buffer.alloc(0), 1))
  const skippable = Buffer.from('502a4d1800000000', 'hex') // magic 0x184D2A50, 0 bytes of user data
  for (const [what, extra] of [['a skippable frame', skippable], ['an empty frame', emptyFrame]] as const) {
    refused(t, damaged(t, modes['zstd:3']!, s => {
      const c = chunkIn(s); const r = s[c.shard]![c.i]!
      if (body(r).codec !== Codec.ZSTD) throw new Error('test: not a zstd chunk')
      r.payload = Buffer.concat([r.payload, extra]); body(r).storedLength += extra.length
      retrail(s)
    }), /pages-1\.img at offset \d+ .*not one zstd frame/, null, `${what} after the frame (the raw bytes and their checksum unchanged)`)
  }
  t.end()
})

/** A plain stream's trailer is anyone's to recompute: so a change is judged by the chunk alone. */
function retrail(shards: Rec[][]): void {
  const all = shards.flat().sort((a, b) => a.marker.seq - b.marker.seq)
  const h = createHash('sha256')
  for (const r of all) if (r.marker.body.kind !== 'image_trailer' && r.marker.body.kind !== 'image_eof') h.update(encodeMarker(r.marker))
  const tr = all.find(r => r.marker.body.kind === 'image_trailer')!
  ;(tr.marker.body as { kind: 'image_trailer'; trailer: { digest: Buffer } }).trailer.digest = h.digest()
}

t.test('a trailer tag in a stream that is not encrypted is refused as that', t => {
  refused(t, damaged(t, modes['checksum only']!, s => {
    const r = s.flat().find(x => x.marker.body.kind === 'image_trailer')!
    ;(r.marker.body as { kind: 'image_trailer'; trailer: { tag: Buffer | null } }).trailer.tag = randomBytes(16)
  }), /image trailer \(marker \d+\): a tag in a stream that is not encrypted/, null, 'a trailer tag, no cipher')
  t.end()
})

t.test('--expect-stream: the stream with that id is read, any other (an older one under the same key) refused before a chunk is decoded', t => {
  const dir = tmp(t)
  const files = { 'a.img': Buffer.alloc(5000, 3) }
  const paths = writeImage(dir, 1, files, modes['auto + encrypt']!, rng(2))
  const h = parseShard(paths[0]!)[0]!.marker.body
  if (h.kind !== 'stream_header') throw new Error('no header')
  t.same(readImage(paths, KEY, 2, null, h.header.streamId), files, 'its own id: read')
  const other = writeImage(tmp(t), 1, files, modes['auto + encrypt']!, rng(2))
  refused(t, other, /this is stream [0-9a-f]{32}, not the expected [0-9a-f]{32}/, KEY, 'another stream under the same key', h.header.streamId)
  const plainPath = join(dir, 'plain')
  const fd = openSync(plainPath, 'w')
  const w = new ShardWriter([fd]); w.write('a.img', Buffer.from('abc')); w.endFile('a.img'); w.endImage(); closeSync(fd)
  refused(t, [plainPath], /was expected, but this stream has no id/, null, 'a plain stream', h.header.streamId)
  t.end()
})

t.test('a stream header anywhere but first, and a chunk without a header, are refused', t => {
  const dir = tmp(t)
  const p = join(dir, 's')
  const plain = writeImage(dir, 1, { 'a.img': Buffer.alloc(10, 1) }, modes['checksum only']!, rng(1))
  const recs = parseShard(plain[0]!)
  // Drop the header: a chunk in a stream that declared nothing.
  writeShard(p, recs.slice(1).map(r => ({ ...r, marker: { ...r.marker, seq: r.marker.seq - 1 } })))
  refused(t, [p], /declared no extensions/, null, 'no header')
  writeFileSync(p, Buffer.alloc(0))
  t.end()
})
