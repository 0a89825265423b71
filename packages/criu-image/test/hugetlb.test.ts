import t from 'tap'
import { isPrivateHugetlb, privateHugetlbWithPages } from '../src/hugetlb.js'
import type { Vma } from '../src/mm.js'
import { PE_LAZY, PE_PRESENT } from '../src/pagemap-flags.js'

/* flags and statuses from a real CRIU 4.1.1 dump of test/fixtures/hugehog.c (2 MiB pages). */
const PRIVATE_HUGE = { flags: 0x54040022, status: 0x201 }
const SHARED_HUGE = { flags: 0x54040001, status: 0x4081 }
const vma = (start: number, k: { flags: number; status: number }): Vma => ({ start, end: start + 0x400000, pgoff: 0, shmid: 0, prot: 3, ...k })

t.test('private MAP_HUGETLB memory, anonymous or of a file, is read by offset; shared and ordinary memory is not', async (t) => {
  t.ok(isPrivateHugetlb(vma(0, PRIVATE_HUGE)), 'private anonymous hugetlb')
  t.ok(isPrivateHugetlb(vma(0, { flags: 0x40002, status: 0x41 })), 'private hugetlbfs file')
  t.notOk(isPrivateHugetlb(vma(0, SHARED_HUGE)), 'shared hugetlb: shmem')
  t.notOk(isPrivateHugetlb(vma(0, { flags: 0x22, status: 0x201 })), 'private anonymous')
})

t.test('only a private hugetlb VMA with present pages counts', async (t) => {
  const priv = vma(0x7f0000000000, PRIVATE_HUGE)
  const shared = vma(0x7f0000400000, SHARED_HUGE)
  const untouched = vma(0x7f0000800000, PRIVATE_HUGE)
  const vmas = [priv, shared, untouched]
  t.same(privateHugetlbWithPages(vmas, [{ vaddr: 0x7f0000000000 + 0x3ff000, nrPages: 1, flags: PE_PRESENT }]), [priv], 'its last page')
  t.same(privateHugetlbWithPages(vmas, [{ vaddr: 0x7f0000400000, nrPages: 1024, flags: PE_PRESENT }]), [], 'pages of the shared one')
  t.same(privateHugetlbWithPages(vmas, [{ vaddr: 0x7f0000000000, nrPages: 1024, flags: PE_LAZY }]), [], 'lazy pages are not in the file')
  t.same(privateHugetlbWithPages(vmas, []), [], 'no pages at all')
})
