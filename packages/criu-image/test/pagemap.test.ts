import t from 'tap'
import { ImageError } from '../src/errors.js'
import { IMG_COMMON_MAGIC, PAGEMAP_MAGIC } from '../src/magic.js'
import { PE_LAZY, PE_PARENT, PE_PRESENT } from '../src/pagemap-flags.js'
import {
  decodePagemap,
  decodePagemapRaw,
  encodePagemap,
  encodePagemapRaw,
  setPagemapEntryFlags,
} from '../src/pagemap.js'
import { hex, image, pb, type PbMsg } from './fixtures/pb.js'

const pagemap = (pagesId: number, entries: PbMsg[]): Buffer =>
  image([IMG_COMMON_MAGIC, PAGEMAP_MAGIC], [pb([[1, pagesId]]), ...entries.map(pb)])

/** The bytes of a real CRIU 4.1.1 pagemap (reference notes 1.4), second entry made lazy. */
const REAL = hex(`
  19435654 25400856
  02000000 0801
  0c000000 08 8080c8c991ae15 10 01 20 04
  0c000000 08 808099a087ea1f 10 02 20 02`)

t.test('decodes a real CRIU 4.1.1 pagemap', async (t) => {
  t.same(decodePagemap(REAL, 'pagemap-1.img'), {
    pagesId: 1,
    entries: [
      { vaddr: 0x557119320000, nrPages: 1, flags: PE_PRESENT },
      { vaddr: 0x7f5074064000, nrPages: 2, flags: PE_LAZY },
    ],
  })
})

t.test('legacy entries without flags get CRIU defaults (init_compat_pagemap_entry)', async (t) => {
  const pm = decodePagemap(
    pagemap(3, [
      [[1, 0x1000], [2, 1]],
      [[1, 0x2000], [2, 1], [3, 1]],
      [[1, 0x3000], [2, 1], [3, 0]],
      [[1, 0x4000], [2, 1], [3, 1], [4, PE_PRESENT]],
      [[1, 0x5000], [2, 1], [3, 0], [4, PE_LAZY]],
    ]),
  )
  t.same(pm.entries.map((e) => e.flags), [PE_PRESENT, PE_PARENT, PE_PRESENT, PE_PRESENT | PE_PARENT, PE_LAZY])
  t.equal(pm.pagesId, 3)
})

t.test('nr_pages: field 5 (CRIU 4.2) wins over field 2 (4.1)', async (t) => {
  const pm = decodePagemap(
    pagemap(1, [
      [[1, 0x1000], [2, 3], [4, PE_PRESENT]],
      [[1, 0x10000], [2, 0], [4, PE_PRESENT], [5, 300]],
      [[1, 0x200000], [4, PE_PRESENT], [5, 5]],
    ]),
  )
  t.same(pm.entries.map((e) => e.nrPages), [3, 300, 5])
})

t.test('encodePagemap writes vaddr, nr_pages (fields 2 and 5) and flags, as protobuf-c orders them', async (t) => {
  const buf = encodePagemap({ pagesId: 1, entries: [{ vaddr: 0x557119320000, nrPages: 1, flags: PE_PRESENT }] })
  t.equal(buf.toString('hex'), '1943565425400856' + '020000000801' + '0e000000' + '088080c8c991ae15' + '1001' + '2004' + '2801')
  const pm = { pagesId: 7, entries: [{ vaddr: 0x1000, nrPages: 70000, flags: PE_LAZY | PE_PRESENT }, { vaddr: 0x7fff0000, nrPages: 1, flags: PE_PARENT }] }
  t.same(decodePagemap(encodePagemap(pm)), pm)
})

t.test('raw round trip keeps every byte, unknown fields included', async (t) => {
  const buf = pagemap(2, [
    [[1, 0x1000], [2, 1], [4, 6], [99, 12345]],
    [[1, 0x2000], [2, 0], [4, 4], [5, 2], [100, Buffer.from('future')]],
  ])
  const raw = decodePagemapRaw(buf)
  t.same(encodePagemapRaw(raw.head, raw.messages), buf)
  t.same(raw.entries.map((e) => e.nrPages), [1, 2])
})

t.test('setPagemapEntryFlags changes flags only', async (t) => {
  const entry = pb([[1, 0x1000], [2, 0], [4, 6], [5, 2], [99, 1]])
  t.same(setPagemapEntryFlags(entry, PE_LAZY), pb([[1, 0x1000], [2, 0], [4, 2], [5, 2], [99, 1]]))
  t.same(setPagemapEntryFlags(pb([[1, 0x1000], [2, 1], [3, 0]]), PE_LAZY), pb([[1, 0x1000], [2, 1], [3, 0], [4, 2]]))
  t.throws(() => setPagemapEntryFlags(entry, -1), RangeError)
})

t.test('refusals', async (t) => {
  const err = (buf: Buffer, message: RegExp | string): void => {
    t.throws(() => decodePagemap(buf, 'pagemap-9.img'), { constructor: ImageError, file: 'pagemap-9.img', message })
  }
  err(image([IMG_COMMON_MAGIC, PAGEMAP_MAGIC], []), 'pagemap-9.img: missing pagemap_head: the file has no entries')
  err(image([IMG_COMMON_MAGIC, PAGEMAP_MAGIC], [pb([[2, 1]])]), 'pagemap-9.img: entry 0 (pagemap_head): missing required field pagemap_head.pages_id')
  err(pagemap(1, [[[2, 1]]]), 'pagemap-9.img: entry 1 (pagemap_entry): missing required field pagemap_entry.vaddr')
  err(pagemap(1, [[[1, 0x1000], [4, 4]]]), /entry 1 \(pagemap_entry\): missing required field pagemap_entry\.nr_pages/)
  err(pagemap(1, [[[1, 2n ** 53n], [2, 1]]]), /entry 1 \(pagemap_entry\): pagemap_entry\.vaddr = 0x20000000000000 is above Number\.MAX_SAFE_INTEGER/)
  err(pagemap(1, [[[1, 0x1000], [2, 1]], [[1, 0x1800], [2, 1]]]), /entry 2 \(vaddr 0x1800\): vaddr is not page-aligned/)
  err(pagemap(1, [[[1, 0x3000], [2, 2]], [[1, 0x4000], [2, 1]]]), /entry 2 \(vaddr 0x4000\): entries are not sorted and disjoint \(previous entry ends at 0x5000\)/)
  err(pagemap(1, [[[1, 0x3000], [2, 1]], [[1, 0x1000], [2, 1]]]), /entry 2 .*not sorted/)
  err(pagemap(1, [[[1, 2 ** 53 - 4096], [2, 2]]]), /end of range is above Number\.MAX_SAFE_INTEGER/)
  const cut = pagemap(1, [[[1, 0x1000], [2, 1]]])
  err(cut.subarray(0, cut.length - 1), /truncated entry: entry 1/)
  const broken = image([IMG_COMMON_MAGIC, PAGEMAP_MAGIC], [pb([[1, 1]]), hex('08 80')])
  err(broken, 'pagemap-9.img: entry 1 (pagemap_entry): malformed varint at byte 1: truncated')
})

t.test('encodePagemap refuses what cannot be written', async (t) => {
  t.throws(() => encodePagemap({ pagesId: -1, entries: [] }), RangeError)
  t.throws(() => encodePagemap({ pagesId: 1, entries: [{ vaddr: 2 ** 60, nrPages: 1, flags: 4 }] }), RangeError)
  t.throws(() => encodePagemap({ pagesId: 1, entries: [{ vaddr: 0, nrPages: 2 ** 32, flags: 4 }] }), /nr_pages/)
})

/* CRIU 4.3 --compress, from the format as Debian's 4.3-1~exp2 ships it (pagemap_pb2 and crit compress). */
const packed = (...sizes: number[]): Buffer => Buffer.concat(sizes.map((s) => varintBytes(s)))
function varintBytes(n: number): Buffer {
  const out: number[] = []
  while (n >= 128) { out.push((n & 127) | 128); n = Math.floor(n / 128) }
  out.push(n)
  return Buffer.from(out)
}

t.test('CRIU 4.3 compressed entries: blocks (field 6) decoded, PE_PAYLOAD_ALIGNED kept', async (t) => {
  const pm = decodePagemap(pagemap(1, [
    [[1, 0x10000], [2, 0], [4, PE_PRESENT], [5, 3], [6, [[1, packed(0, 4096, 100)], [2, 4196], [3, 1]]]],
    [[1, 0x20000], [2, 0], [4, PE_PRESENT | 8], [5, 2]],
    [[1, 0x30000], [2, 0], [4, PE_PRESENT | 8], [5, 5], [6, [[1, packed(9000, 0)], [2, 9000], [3, 4]]]],
  ]), 'pagemap-1.img')
  t.same(pm.entries, [
    { vaddr: 0x10000, nrPages: 3, flags: PE_PRESENT, blocks: { sizes: [0, 4096, 100], totalPayload: 4196, pagesPerBlock: 1 } },
    { vaddr: 0x20000, nrPages: 2, flags: PE_PRESENT | 8 },
    { vaddr: 0x30000, nrPages: 5, flags: PE_PRESENT | 8, blocks: { sizes: [9000, 0], totalPayload: 9000, pagesPerBlock: 4 } },
  ])
  t.throws(() => encodePagemap(pm), /compressed blocks/, 'never re-encoded without its blocks')
})

t.test('CRIU 4.3 compressed entries: bad block metadata is refused by name', async (t) => {
  const bad = (blocks: PbMsg, flags = PE_PRESENT, nr = 3): unknown =>
    decodePagemap(pagemap(1, [[[1, 0x10000], [2, nr], [4, flags], [6, blocks]]]), 'pagemap-1.img')
  const msg = (m: RegExp) => ({ constructor: ImageError, message: m })
  t.throws(() => bad([[1, packed(1, 1)], [2, 2], [3, 1]]), msg(/compressed pages \(CRIU --compress\): 2 block sizes for 3 pages/))
  t.throws(() => bad([[1, packed(1, 1, 5000)], [2, 5002], [3, 1]]), msg(/block 2 is 5000 bytes, more than its 4096/))
  t.throws(() => bad([[1, packed(1, 1, 1)], [2, 4], [3, 1]]), msg(/total_payload_size 4 is not the sum of the block sizes \(3\)/))
  t.throws(() => bad([[1, packed(1)], [2, 1], [3, 2048]]), msg(/pages_per_block 2048 is not 1\.\.1024/))
  t.throws(() => bad([[1, packed(1, 1, 1)], [2, 3], [3, 1]], PE_PARENT), msg(/block sizes on an entry without pages/))
})
