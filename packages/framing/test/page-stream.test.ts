import t from 'tap'
import {
  FramingError, MAX_PAGE_MARKER_LEN, MAX_RANGE_PAGES, MAX_REF_FILE_NAME, PageStreamDecoder, encodeDone, encodeHello, encodePush,
  encodeRangeHeader, encodeRefHeader, encodeRequest,
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
      { kind: 'hello', version: 2, pageSize: PAGE, pages: 65536, dumpId: ID, refs: false },
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

t.test('PAGE_REF: a run the base holds, its page hashes after the marker; PAGE_HELLO says refs may come', async (t) => {
  const hashes = Buffer.alloc(3 * 32)
  for (let i = 0; i < hashes.length; i++) hashes[i] = (i * 11) & 0xff
  const ref = { pid: 4242, vaddr: 0x7f12_3456_7000, nrPages: 3, requested: true, file: 'pages-12.img', filePage: 70_000 }
  const data = Buffer.alloc(PAGE, 9)
  const bytes = Buffer.concat([
    encodeHello(65536, ID, true), encodeRefHeader(ref), hashes, encodeRangeHeader({ pid: 1, vaddr: 0, nrPages: 1 }, false), data,
    encodeRefHeader({ ...ref, requested: false, filePage: 0, nrPages: 1 }), hashes.subarray(0, 32),
  ])
  for (const step of [1, 7, 33, bytes.length]) {
    const { out, dec } = decodeAll(bytes, step)
    t.same(out, [
      { kind: 'hello', version: 2, pageSize: PAGE, pages: 65536, dumpId: ID, refs: true },
      { kind: 'ref', ...ref, hashes },
      { kind: 'range', pid: 1, vaddr: 0, nrPages: 1, requested: false, data },
      { kind: 'ref', ...ref, requested: false, filePage: 0, nrPages: 1, hashes: hashes.subarray(0, 32) },
    ], `read ${step} bytes at a time`)
    t.ok(dec.atBoundary)
    t.equal(dec.dataBytes, PAGE, 'only PAGE_RANGE bytes count as page data')
  }
  const longest = encodeRefHeader({ ...ref, pid: 0x7fffffff, vaddr: 0x7fff_ffc0_0000, nrPages: MAX_RANGE_PAGES, file: 'pages-4294967295.img', filePage: 2 ** 32 - MAX_RANGE_PAGES })
  t.ok(longest.length - 4 <= MAX_PAGE_MARKER_LEN, `the longest PAGE_REF marker (${longest.length - 4} bytes) fits`)
  t.equal(encodeRefHeader({ pid: 1, vaddr: 4096, nrPages: 2, requested: false, file: 'pages-1.img', filePage: 0 }).toString('hex'),
    '16000000' + '7a14' + '0801' + '108020' + '1802' + '2a0b' + Buffer.from('pages-1.img').toString('hex'),
    'field 15; requested and the first page omitted when 0')
})

t.test('PAGE_REF limits, checked before the hashes are allocated', async (t) => {
  const ok = { pid: 1, vaddr: 4096, nrPages: 1, requested: false, file: 'pages-1.img', filePage: 0 }
  const refused: [string, object, RegExp][] = [
    ['a name outside the base', { file: '../pages-1.img' }, /not a pages-N.img|contains/],
    ['not a pages file', { file: 'inventory.img' }, /base file "inventory.img" is not a pages-N.img/],
    ['a name too long', { file: `pages-${'1'.repeat(MAX_REF_FILE_NAME)}.img` }, /is not a pages-N.img/],
    ['too many pages', { nrPages: MAX_RANGE_PAGES + 1 }, /1025 pages/],
    ['past a u32 page number', { filePage: 2 ** 32 - 1, nrPages: 2 }, /bad first page/],
  ]
  for (const [what, change, re] of refused) {
    t.throws(() => encodeRefHeader({ ...ok, ...change }), re, `encode: ${what}`)
  }
  // Encoded by hand (the encoder refuses them): file "x.img", then 1025 pages.
  const marker = (sub: string): Buffer => { const m = Buffer.from('7a' + (sub.length / 2).toString(16).padStart(2, '0') + sub, 'hex'); const l = Buffer.alloc(4); l.writeUInt32LE(m.length); return Buffer.concat([l, m]) }
  t.throws(() => decodeAll(marker('0801' + '108020' + '1801' + '2a05' + Buffer.from('x.img').toString('hex'))), { name: 'FramingError', message: /"x.img" is not a pages-N.img/ })
  t.throws(() => decodeAll(marker('0801' + '108020' + '188108' + '2a0b' + Buffer.from('pages-1.img').toString('hex'))), { name: 'FramingError', message: /1025 pages/ })
  t.throws(() => decodeAll(marker('0801' + '108020' + '1801' + '2002' + '2a0b' + Buffer.from('pages-1.img').toString('hex'))), { name: 'FramingError', message: /requested is 2/ })
  t.throws(() => decodeAll(Buffer.from('1d000000' + '6a1b' + '0802' + '108020' + '1802' + '2a10' + ID.toString('hex') + '3002', 'hex')), /PAGE_HELLO refs is 2/)
})
