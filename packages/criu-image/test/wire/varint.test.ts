import t from 'tap'
import { WireError } from '../../src/wire/wire-error.js'
import { encodeVarint, readVarint } from '../../src/wire/varint.js'
import { hex } from '../fixtures/pb.js'

const U64_MAX = (1n << 64n) - 1n
const vectors: Array<[bigint, string]> = [
  [0n, '00'],
  [1n, '01'],
  [127n, '7f'],
  [128n, '8001'],
  [300n, 'ac02'],
  [0xffff_ffffn, 'ffffffff0f'],
  [BigInt(Number.MAX_SAFE_INTEGER), 'ffffffffffffff0f'],
  [1n << 63n, '80808080808080808001'],
  [U64_MAX, 'ffffffffffffffffff01'],
]

t.test('known encodings, both ways', async (t) => {
  for (const [value, bytes] of vectors) {
    t.equal(encodeVarint(value).toString('hex'), bytes, `encode ${value}`)
    t.same(readVarint(hex(bytes), 0), { value, next: bytes.length / 2 }, `read ${bytes}`)
  }
  t.equal(encodeVarint(300).toString('hex'), 'ac02', 'accepts a number')
})

t.test('reads at an offset and stops at the first byte without continuation bit', async (t) => {
  t.same(readVarint(hex('ff ac02 ff'), 1), { value: 300n, next: 3 })
})

t.test('a non-canonical (overlong) varint still reads', async (t) => {
  t.same(readVarint(hex('8000'), 0), { value: 0n, next: 2 })
})

t.test('malformed varints are refused', async (t) => {
  t.throws(() => readVarint(hex(''), 0), { constructor: WireError, message: /malformed varint at byte 0: truncated/ })
  t.throws(() => readVarint(hex('8080'), 0), { message: /truncated/ })
  t.throws(() => readVarint(hex('ffffffffffffffffff02'), 0), { message: /more than 64 bits/ })
  t.throws(() => readVarint(hex('8080808080808080808001'), 0), { message: /more than 64 bits/ })
  t.throws(() => readVarint(hex('00 80'), 1), { message: /malformed varint at byte 1/ })
})

t.test('encode refuses values outside u64', async (t) => {
  t.throws(() => encodeVarint(-1), RangeError)
  t.throws(() => encodeVarint(U64_MAX + 1n), RangeError)
})
