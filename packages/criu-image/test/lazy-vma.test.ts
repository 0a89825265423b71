import t from 'tap'
import { isLazyVma } from '../src/lazy-vma.js'
import type { Vma } from '../src/mm.js'

/* flags and statuses as seen in real CRIU 4.1.1 images (reference notes 1.6). */
const v = (flags: number, status: number): Vma => ({ start: 0x1000, end: 0x2000, pgoff: 0, shmid: 0, prot: 3, flags, status })

t.test('private anonymous memory is lazy, stacks (MAP_GROWSDOWN) included', async (t) => {
  t.ok(isLazyVma(v(0x22, 0x201)), 'private anon')
  t.ok(isLazyVma(v(0x122, 0x201)), 'stack')
  t.ok(isLazyVma(v(0x4022, 0x221)), 'heap, NORESERVE')
})

t.test('everything else is not', async (t) => {
  t.notOk(isLazyVma(v(0x21, 0x101)), 'shared anon')
  t.notOk(isLazyVma(v(0x2, 0x41)), 'file private')
  t.notOk(isLazyVma(v(0x1, 0x81)), 'file shared')
  t.notOk(isLazyVma(v(0x2022, 0x201)), 'MAP_LOCKED')
  t.notOk(isLazyVma(v(0x40022, 0x201)), 'MAP_HUGETLB')
  t.notOk(isLazyVma(v(0x22, 0x209)), 'vdso')
  t.notOk(isLazyVma(v(0x22, 0x1201)), 'vvar')
  t.notOk(isLazyVma(v(0x22, 0x204)), 'vsyscall')
})
