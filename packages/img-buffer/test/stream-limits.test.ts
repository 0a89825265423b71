// The refusal of what criu restore --stream cannot restore, on a store built by hand.
import t from 'tap'
import { encodeMm, encodePagemap, encodePstree, PE_PRESENT } from '@criu-pipes/criu-image'
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
