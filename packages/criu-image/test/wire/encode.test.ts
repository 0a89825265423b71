import t from 'tap'
import { decodeMessage } from '../../src/wire/decode.js'
import { encodeMessage, lenField, setField, varintField } from '../../src/wire/encode.js'
import { hex } from '../fixtures/pb.js'

t.test('field builders write protobuf-c bytes', async (t) => {
  t.equal(varintField(1, 150).raw.toString('hex'), '089601')
  t.equal(varintField(1000, 1n).raw.toString('hex'), 'c03e01')
  t.equal(lenField(2, Buffer.from('hi')).raw.toString('hex'), '12026869')
  t.equal(lenField(14, Buffer.alloc(0)).raw.toString('hex'), '7200')
})

t.test('setField replaces in place, keeping every other field', async (t) => {
  const msg = decodeMessage(hex('08 01  10 02  f8ffffff0f 05  18 03'))
  t.equal(encodeMessage(setField(msg, varintField(2, 300))).toString('hex'), '0801' + '10ac02' + 'f8ffffff0f05' + '1803')
})

t.test('setField collapses repeated occurrences into the first one', async (t) => {
  const msg = decodeMessage(hex('20 04  08 01  20 06'))
  t.equal(encodeMessage(setField(msg, varintField(4, 2))).toString('hex'), '2002' + '0801')
})

t.test('setField inserts a missing field in field-number order', async (t) => {
  const msg = decodeMessage(hex('08 01  10 02  28 07'))
  t.equal(encodeMessage(setField(msg, varintField(4, 2))).toString('hex'), '0801' + '1002' + '2002' + '2807')
  t.equal(encodeMessage(setField(decodeMessage(hex('08 01')), varintField(4, 2))).toString('hex'), '0801' + '2002')
  t.equal(encodeMessage(setField([], varintField(4, 2))).toString('hex'), '2002')
})
