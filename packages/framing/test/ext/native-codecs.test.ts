// The C codecs: their output is the standard formats (a zstd frame the zstd CLI decodes, LZ4
// blocks that round-trip), and damaged or oversized input is refused, never written past dst.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { Zstd, lz4Compress, lz4Decompress, zstdFrameContentSize } from '../../src/ext/native-codecs.js'
import { mixedBytes, rng } from './streams.js'

const raw = mixedBytes(rng(3), 256 * 1024)

t.test('zstd: a frame with its content size, which the zstd CLI decodes to the same bytes', t => {
  const z = new Zstd()
  const out = Buffer.alloc(raw.length + 4096)
  const n = z.compress(out, raw, 1)
  t.ok(n > 0 && n < raw.length / 2, `compressed to ${n}`)
  t.equal(zstdFrameContentSize(out.subarray(0, n)), raw.length)
  t.ok(execFileSync('zstd', ['-d', '-q', '-c'], { input: out.subarray(0, n), maxBuffer: 1 << 22 }).equals(raw), 'zstd -d agrees')
  const back = Buffer.alloc(raw.length)
  t.equal(z.decompress(back, out.subarray(0, n)), raw.length)
  t.ok(back.equals(raw))
  const bad = Buffer.from(out.subarray(0, n))
  bad[n >> 1]! ^= 0xff
  t.throws(() => { z.decompress(back, bad); if (!back.equals(raw)) throw new Error('changed') }, 'a damaged frame fails (or at least never passes as the same bytes)')
  t.equal(zstdFrameContentSize(Buffer.from('not a frame')), null)
  t.end()
})

t.test('lz4: blocks round-trip; a block too long for dst or damaged is refused', t => {
  const out = Buffer.alloc(raw.length + raw.length / 255 + 16)
  const n = lz4Compress(raw, out)
  t.ok(n > 0 && n < raw.length, `compressed to ${n}`)
  const back = Buffer.alloc(raw.length)
  t.equal(lz4Decompress(out.subarray(0, n), back), raw.length)
  t.ok(back.equals(raw))
  const short = Buffer.alloc(raw.length + 8)
  const small = short.subarray(0, raw.length - 1)
  t.equal(lz4Decompress(out.subarray(0, n), small), -1, 'decoding to more than dst holds: refused')
  t.equal(short.readUInt32LE(raw.length), 0, 'nothing written past dst')
  t.equal(lz4Decompress(Buffer.from([0xff, 0xff, 0xff]), back), -1, 'garbage: refused')
  t.end()
})
