import t from 'tap'
import { decodeMessage } from '../../src/wire/decode.js'
import {
  has,
  optionalBool,
  optionalMessage,
  optionalU32,
  optionalU64,
  repeatedMessages,
  repeatedU32,
  requiredU32,
  requiredU64,
} from '../../src/wire/read.js'
import { WireError } from '../../src/wire/wire-error.js'
import { pb } from '../fixtures/pb.js'

const SAFE = Number.MAX_SAFE_INTEGER

t.test('scalars: last occurrence wins, absent is undefined', async (t) => {
  const msg = decodeMessage(pb([[1, 5], [1, 7], [3, 0]]))
  t.equal(requiredU32(msg, 1, 'm.a'), 7)
  t.equal(optionalU32(msg, 2, 'm.b'), undefined)
  t.equal(optionalBool(msg, 3, 'm.c'), false)
  t.equal(has(msg, 3), true)
  t.equal(has(msg, 4), false)
})

t.test('u64 up to MAX_SAFE_INTEGER, refused above', async (t) => {
  t.equal(requiredU64(decodeMessage(pb([[1, SAFE]])), 1, 'm.a'), SAFE)
  t.throws(() => optionalU64(decodeMessage(pb([[1, BigInt(SAFE) + 1n]])), 1, 'm.addr'), {
    constructor: WireError,
    message: 'm.addr = 0x20000000000000 is above Number.MAX_SAFE_INTEGER',
  })
})

t.test('uint32 fields refuse values above 2^32 - 1', async (t) => {
  t.equal(requiredU32(decodeMessage(pb([[1, 0xffffffff]])), 1, 'm.a'), 0xffffffff)
  t.throws(() => requiredU32(decodeMessage(pb([[1, 0x100000000]])), 1, 'm.a'), { message: /does not fit uint32/ })
})

t.test('missing required fields and wrong wire types are named', async (t) => {
  t.throws(() => requiredU64(decodeMessage(pb([[2, 1]])), 1, 'pagemap_entry.vaddr'), {
    message: 'missing required field pagemap_entry.vaddr',
  })
  t.throws(() => requiredU32(decodeMessage(pb([[1, Buffer.from('x')]])), 1, 'm.a'), {
    message: 'm.a has wire type 2, expected a varint',
  })
  t.throws(() => optionalMessage(decodeMessage(pb([[1, 3]])), 1, 'm.sub'), { message: 'm.sub has wire type 0, expected a message' })
})

t.test('repeated uint32, unpacked as CRIU writes them and packed', async (t) => {
  t.same(repeatedU32(decodeMessage(pb([[5, 1], [1, 9], [5, 300]])), 5, 'm.r'), [1, 300])
  const packed = Buffer.from([0x01, 0xac, 0x02])
  t.same(repeatedU32(decodeMessage(pb([[5, packed], [5, 7]])), 5, 'm.r'), [1, 300, 7])
  t.same(repeatedU32(decodeMessage(pb([])), 5, 'm.r'), [])
})

t.test('nested messages, with the path in errors', async (t) => {
  const msg = decodeMessage(pb([[14, [[1, 1]]], [14, [[1, 2]]]]))
  t.same(repeatedMessages(msg, 14, 'mm.vmas').map((m) => requiredU32(m, 1, 'x')), [1, 2])
  t.equal(optionalMessage(msg, 14, 'mm.vmas')?.length, 1)
  const bad = decodeMessage(pb([[14, Buffer.from([0x08])]]))
  t.throws(() => repeatedMessages(bad, 14, 'mm.vmas'), { message: /^mm\.vmas\[0\]: malformed varint/ })
})
