// The refusal of what criu restore --stream cannot restore, on a store built by hand.
import t from 'tap'
import {
  PAGE_SIZE, PE_PRESENT, encodeMessage, encodeMm, encodePagemap, encodePagemapRaw, encodePstree, lenField, varintField,
} from '@criu-pipes/criu-image'
import { StoredFile } from '../src/store.js'
import { refuseUnstreamable } from '../src/stream-limits.js'

const PID = 77
const BASE = 0x7f0000000000
const stored = (b: Buffer): StoredFile => {
  const f = new StoredFile()
  f.replace(b)
  return f
}

function image(vmaFlags: number, vmaStatus: number): Map<string, StoredFile> {
  return new Map([
    ['pstree.img', stored(encodePstree([{ pid: PID, ppid: 0, pgid: PID, sid: PID, threads: [PID] }]))],
    ['mm-77.img', stored(encodeMm({ vmas: [{ start: BASE, end: BASE + 0x400000, pgoff: 0, shmid: 0, prot: 3, flags: vmaFlags, status: vmaStatus }] }))],
    ['pagemap-77.img', stored(encodePagemap({ pagesId: 5, entries: [{ vaddr: BASE, nrPages: 1024, flags: PE_PRESENT }] }))],
  ])
}

t.test('private hugetlb pages: refused, naming the pid, the range and the pages file', async (t) => {
  t.throws(() => refuseUnstreamable(image(0x54040022, 0x201)),
    /^pid 77 has private MAP_HUGETLB memory with pages \(0x7f0000000000-0x7f0000400000\), which criu restore --stream cannot restore: CRIU reads those pages from pages-5\.img by offset/)
})

t.test('ordinary private memory, and an image we cannot judge, go to CRIU', async (t) => {
  t.doesNotThrow(() => refuseUnstreamable(image(0x22, 0x201)))
  const damaged = image(0x54040022, 0x201)
  damaged.set('mm-77.img', stored(Buffer.from('not an mm image')))
  t.doesNotThrow(() => refuseUnstreamable(damaged), 'CRIU refuses a damaged mm image itself')
  t.doesNotThrow(() => refuseUnstreamable(new Map()), 'no pstree.img')
})

/** pagemap-77.img as CRIU 4.3 --compress writes it: 128 pages at BASE in blocks of `pagesPerBlock`, all zero. */
function compressed(pagesPerBlock: number): Map<string, StoredFile> {
  const img = image(0x22, 0x201)
  const n = 128 / pagesPerBlock
  const blocks = encodeMessage([lenField(1, Buffer.alloc(n)), varintField(2, 0), varintField(3, pagesPerBlock)])
  const entry = encodeMessage([varintField(1, BASE), varintField(2, 0), varintField(4, PE_PRESENT), varintField(5, 128), lenField(6, blocks)])
  img.set('pagemap-77.img', stored(encodePagemapRaw(encodeMessage([varintField(1, 5)]), [entry])))
  return img
}

t.test('CRIU 4.3 --compress: one-page blocks go to CRIU, larger blocks are refused by name', async (t) => {
  t.doesNotThrow(() => refuseUnstreamable(compressed(1)), 'as --stream and --page-server dump them')
  t.throws(() => refuseUnstreamable(compressed(256 * 1024 / PAGE_SIZE)),
    /^pid 77 has memory pages compressed by CRIU --compress in blocks of 64 pages \(at 0x7f0000000000\), which criu restore --stream cannot restore/)
})
