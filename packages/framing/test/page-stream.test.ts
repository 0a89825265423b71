import t from 'tap'
import {
  FramingError, MAX_RANGE_PAGES, PageStreamDecoder, encodeDone, encodeHello, encodePush, encodeRangeHeader, encodeRequest,
} from '../src/index.js'
import type { PageMessage } from '../src/index.js'

const PAGE = 4096
const ID = Buffer.from('00112233445566778899aabbccddeeff', 'hex')

function decodeAll(bytes: Buffer, step = bytes.length): { out: PageMessage[]; dec: PageStreamDecoder } {
  const dec = new PageStreamDecoder()
  const out: PageMessage[] = []
  for (let off = 0; off < bytes.length; off += step) dec.decode(bytes.subarray(off, off + step), out)
  return { out, dec }
}

t.test('every message round-trips, whatever the read sizes', async (t) => {
  const data = Buffer.alloc(3 * PAGE)
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff
  const run = { pid: 4242, vaddr: 0x7f12_3456_7000, nrPages: 3 }
  const bytes = Buffer.concat([
    encodeHello(65536, ID), encodePush(4096), encodeRangeHeader(run, true), data, encodeRequest({ ...run, nrPages: 1 }),
    encodeDone(), encodeDone(-22),
  ])
  for (const step of [1, 3, 4, 5, 4099, bytes.length]) {
    const { out, dec } = decodeAll(bytes, step)
    t.same(out, [
      { kind: 'hello', version: 2, pageSize: PAGE, pages: 65536, dumpId: ID },
      { kind: 'push', credit: 4096 },
      { kind: 'range', ...run, requested: true, data },
      { kind: 'request', ...run, nrPages: 1 },
      { kind: 'done', status: 0 },
      { kind: 'done', status: -22 },
    ], `read ${step} bytes at a time`)
    t.ok(dec.atBoundary)
  }
})

t.test('the frame is the shard format: u32 LE length, then a field-13/10/11/12/14 marker', async (t) => {
  t.equal(encodePush(1).toString('hex'), '04000000' + '7202' + '0801')
  t.equal(encodeHello(2, ID).toString('hex'), '1b000000' + '6a19' + '0802' + '108020' + '1802' + '2a10' + ID.toString('hex'),
    'PAGE_HELLO: version 2, page size, pages, then the dump id as 16 bytes (sub-field 5)')
  t.throws(() => encodeHello(2, ID.subarray(1)), /a dump id of 15 bytes/)
  t.equal(encodeDone().toString('hex'), '02000000' + '6200')
  t.equal(encodeRequest({ pid: 1, vaddr: 4096, nrPages: 2 }).toString('hex'), '09000000' + '5a07' + '0801' + '108020' + '1802')
})

t.test('limits are checked before anything is allocated; damage is refused', async (t) => {
  const bad: [string, Buffer, RegExp][] = [
    ['a huge length', Buffer.from('ffffff7f', 'hex'), /marker of 2147483647 bytes/],
    ['zero length', Buffer.from('00000000', 'hex'), /marker of 0 bytes/],
    ['a shard marker', Buffer.from('04000000' + '08011803', 'hex'), /unknown marker field 1/],
    ['a compressed stream', Buffer.from('09000000' + '6a07' + '0802' + '108020' + '2001', 'hex'), /codec 1: this build reads raw pages only/],
    ['version 1 (no dump id)', Buffer.from('04000000' + '6a02' + '0801', 'hex'), /version 1, this build reads 2/],
    ['a hello without its dump', Buffer.from('09000000' + '6a07' + '0802' + '108020' + '1801', 'hex'), /PAGE_HELLO names no dump/],
    ['a short dump id', Buffer.from('0b000000' + '6a09' + '0802' + '108020' + '2a02' + 'abcd', 'hex'), /a dump id of 2 bytes, not 16/],
    ['unknown sub-field', Buffer.from('04000000' + '7202' + '2801', 'hex'), /unknown sub-field 5 of field 14/],
    ['a push without credit', Buffer.from('02000000' + '7200', 'hex'), /PAGE_PUSH without credit/],
    ['too many pages', Buffer.from('0a000000' + '5208' + '0801' + '108020' + '188108', 'hex'), /1025 pages/],
    ['unaligned address', Buffer.from('08000000' + '5206' + '0801' + '1001' + '1801', 'hex'), /bad address 0x1/],
    ['pid 0', Buffer.from('09000000' + '5207' + '0800' + '108020' + '1801', 'hex'), /bad pid 0/],
    ['length past the marker', Buffer.from('04000000' + '5205' + '0801', 'hex'), /field 10 is 5 bytes, the marker has 2/],
  ]
  for (const [what, bytes, re] of bad) t.throws(() => decodeAll(bytes), { name: 'FramingError', message: re }, what)
  t.throws(() => decodeAll(encodeRangeHeader({ pid: 1, vaddr: 0, nrPages: 1 }, false).fill(0, 4).subarray(0)), FramingError, 'zeroed marker')
  t.throws(() => encodeRangeHeader({ pid: 1, vaddr: 0, nrPages: MAX_RANGE_PAGES + 1 }, false), /1025 pages \(1 to 1024\)/)
  t.throws(() => encodeRequest({ pid: 1, vaddr: 4096, nrPages: 0 }), /0 pages/)
})

t.test('a stream cut inside a message is not at a boundary', async (t) => {
  const whole = Buffer.concat([encodeRangeHeader({ pid: 1, vaddr: 0, nrPages: 1 }, false), Buffer.alloc(PAGE)])
  t.notOk(decodeAll(whole.subarray(0, whole.length - 1)).dec.atBoundary, 'inside the data')
  t.notOk(decodeAll(whole.subarray(0, 3)).dec.atBoundary, 'inside the length')
  t.equal(decodeAll(whole.subarray(0, whole.length - 1)).out.length, 0, 'nothing half-delivered')
})
