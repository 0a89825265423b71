import t from 'tap'
import { decodeMessage } from '../../src/wire/decode.js'
import { encodeMessage } from '../../src/wire/encode.js'
import { WireType } from '../../src/wire/field.js'
import { WireError } from '../../src/wire/wire-error.js'
import { hex } from '../fixtures/pb.js'

t.test('walks every wire type and keeps each field raw', async (t) => {
  // 1: varint 150, 2: "hi", 3: fixed32, 4: fixed64, 1000: varint 1 (two-byte tag)
  const buf = hex('08 9601  12 02 6869  1d 01020304  21 0102030405060708  c03e 01')
  const msg = decodeMessage(buf)
  t.same(
    msg.map((f) => [f.num, f.type]),
    [
      [1, WireType.Varint],
      [2, WireType.Len],
      [3, WireType.Fixed32],
      [4, WireType.Fixed64],
      [1000, WireType.Varint],
    ],
  )
  t.equal(msg[0]?.value, 150n)
  t.equal(msg[1]?.value.toString(), 'hi')
  t.same(msg.map((f) => f.raw.toString('hex')), ['089601', '12026869', '1d01020304', '210102030405060708', 'c03e01'])
  t.same(encodeMessage(msg), buf, 'encode(decode(b)) is b')
})

t.test('unknown fields and overlong varints survive a round trip byte for byte', async (t) => {
  const buf = hex('08 8000  f8ffffff0f 05  08 01')
  t.same(encodeMessage(decodeMessage(buf)), buf)
})

t.test('an empty message has no fields', async (t) => {
  t.same(decodeMessage(Buffer.alloc(0)), [])
})

t.test('malformed messages are refused', async (t) => {
  t.throws(() => decodeMessage(hex('00 01')), { constructor: WireError, message: /bad field number 0 at byte 0/ })
  t.throws(() => decodeMessage(hex('08 01 0b')), { message: /unsupported wire type 3 for field 1 at byte 2/ })
  t.throws(() => decodeMessage(hex('0c')), { message: /unsupported wire type 4/ })
  t.throws(() => decodeMessage(hex('12 05 6869')), { message: /field 2 at byte 0 is truncated: length 5, 2 bytes left/ })
  t.throws(() => decodeMessage(hex('1d 0102')), { message: /field 3 at byte 0 is truncated/ })
  t.throws(() => decodeMessage(hex('21 01020304050607')), { message: /field 4 at byte 0 is truncated/ })
  t.throws(() => decodeMessage(hex('08 ff')), { message: /malformed varint at byte 1/ })
  t.throws(() => decodeMessage(hex('12 ffffffffffffffffff01')), { message: /truncated/ })
})
