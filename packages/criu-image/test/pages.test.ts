import t from 'tap'
import { PAGE_SIZE, PE_LAZY, PE_PARENT, PE_PAYLOAD_ALIGNED, PE_PRESENT } from '../src/pagemap-flags.js'
import type { PagemapEntry } from '../src/pagemap.js'
import {
  entryBytes, findEntryIndex, isCompressed, isPresent, pagesFileName, pagesOffsets, presentBytes, refuseCompressed, storedBytes,
} from '../src/pages.js'

const entries: PagemapEntry[] = [
  { vaddr: 0x10000, nrPages: 2, flags: PE_PRESENT },
  { vaddr: 0x20000, nrPages: 4, flags: PE_PARENT },
  { vaddr: 0x30000, nrPages: 3, flags: PE_LAZY | PE_PRESENT },
  { vaddr: 0x40000, nrPages: 8, flags: PE_LAZY },
  { vaddr: 0x50000, nrPages: 1, flags: PE_PRESENT },
]

t.test('offsets in pages-N.img run over PE_PRESENT entries only', async (t) => {
  t.same(pagesOffsets(entries), [0, undefined, 2 * PAGE_SIZE, undefined, 5 * PAGE_SIZE])
  t.equal(presentBytes(entries), 6 * PAGE_SIZE)
  t.same(entries.map(isPresent), [true, false, true, false, true])
  t.equal(entryBytes({ vaddr: 0, nrPages: 3, flags: 0 }), 3 * PAGE_SIZE)
  t.same(pagesOffsets([]), [])
  t.equal(presentBytes([]), 0)
})

t.test('findEntryIndex finds the entry holding an address', async (t) => {
  t.equal(findEntryIndex(entries, 0x10000), 0)
  t.equal(findEntryIndex(entries, 0x11fff), 0)
  t.equal(findEntryIndex(entries, 0x12000), -1)
  t.equal(findEntryIndex(entries, 0x47fff), 3)
  t.equal(findEntryIndex(entries, 0x50000), 4)
  t.equal(findEntryIndex(entries, 0x51000), -1)
  t.equal(findEntryIndex(entries, 0), -1)
  t.equal(findEntryIndex([], 0x1000), -1)
})

t.test('pages file names come from pages_id', async (t) => {
  t.equal(pagesFileName(2), 'pages-2.img')
  t.equal(pagesFileName(0x10001), 'pages-65537.img')
})

t.test('CRIU 4.3 --compress layout: stored sizes, page-aligned payloads, refusal by name', async (t) => {
  const c: PagemapEntry[] = [
    { vaddr: 0x10000, nrPages: 3, flags: PE_PRESENT, blocks: { sizes: [0, 100, 4096], totalPayload: 4196, pagesPerBlock: 1 } },
    { vaddr: 0x20000, nrPages: 2, flags: PE_PARENT },
    // crit compress aligns an entry whose first stored page is raw.
    { vaddr: 0x30000, nrPages: 2, flags: PE_PRESENT | PE_PAYLOAD_ALIGNED },
    { vaddr: 0x40000, nrPages: 4, flags: PE_PRESENT, blocks: { sizes: [7], totalPayload: 7, pagesPerBlock: 64 } },
  ]
  t.same(pagesOffsets(c), [0, undefined, 2 * PAGE_SIZE, 4 * PAGE_SIZE])
  t.equal(presentBytes(c), 4 * PAGE_SIZE + 7)
  t.same(c.map(storedBytes), [4196, 2 * PAGE_SIZE, 2 * PAGE_SIZE, 7])
  t.same(c.map(isCompressed), [true, false, true, true])
  t.equal(entryBytes(c[0]!), 3 * PAGE_SIZE, 'the memory an entry covers is unchanged')
  t.doesNotThrow(() => refuseCompressed('pagemap-1.img', entries, 'uffd-serve'))
  t.throws(() => refuseCompressed('pagemap-1.img', c, 'uffd-serve'), {
    message: 'pagemap-1.img: entry 1 (vaddr 0x10000) holds compressed pages (CRIU --compress, LZ4, blocks of 1 page(s)), which uffd-serve cannot read; dump without --compress',
  })
})
