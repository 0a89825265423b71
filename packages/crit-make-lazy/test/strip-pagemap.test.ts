import t from 'tap'
import { ImageError, PAGE_SIZE, PE_LAZY, PE_PRESENT } from '@criu-pipes/criu-image'
import { MakeLazyError } from '../src/make-lazy-error.js'
import { stripPagemap } from '../src/strip-pagemap.js'
import { TASKS, anonVma, expectedLazy, fileVma, pagemapImg } from './fixtures/image-dir.js'

const P = PAGE_SIZE

t.test('the 6-entry pagemap: LAZY|PRESENT become LAZY, kept data ranges merged', async (t) => {
  const task = TASKS[0]!
  const r = stripPagemap(pagemapImg(task.pagesId, task.entries), 'pagemap-100.img', () => task.vmas)
  t.same(r.pagemap, expectedLazy(task).pagemap)
  t.same(r.keep, [{ offset: 0, length: 2 * P }])
  t.equal(r.srcPagesBytes, (2 + 3 + 4 + 2) * P)
  t.equal(r.strippedPages, 3 + 4 + 2)
  t.equal(r.pagesId, 2)
})

t.test('legacy entries and kept ranges between stripped ones', async (t) => {
  const task = TASKS[1]!
  const r = stripPagemap(pagemapImg(task.pagesId, task.entries), 'pagemap-101.img', () => task.vmas)
  t.same(r.pagemap, expectedLazy(task).pagemap)
  t.same(r.keep, [{ offset: 0, length: P }, { offset: 3 * P, length: P }])
  t.equal(r.strippedPages, 2)
})

t.test('nothing lazy: same bytes out, and the mm image is not even needed', async (t) => {
  const task = TASKS[3]!
  const buf = pagemapImg(task.pagesId, task.entries)
  const r = stripPagemap(buf, 'pagemap-103.img', () => t.fail('mm read') as never)
  t.same(r.pagemap, buf)
  t.same(r.keep, [{ offset: 0, length: 4 * P }])
  t.equal(r.strippedPages, 0)
})

t.test('already lazy input is a no-op', async (t) => {
  const task = TASKS[0]!
  const lazy = expectedLazy(task).pagemap
  const r = stripPagemap(lazy, 'pagemap-100.img', () => task.vmas)
  t.same(r.pagemap, lazy)
  t.equal(r.strippedPages, 0)
})

t.test('a LAZY|PRESENT entry not entirely inside lazy-able VMAs is refused', async (t) => {
  const entries = [{ vaddr: 0x10000, nrPages: 4, flags: PE_LAZY | PE_PRESENT }]
  const buf = pagemapImg(1, entries)
  t.throws(() => stripPagemap(buf, 'pagemap-9.img', () => [anonVma(0x10000, 0x12000), fileVma(0x12000, 0x20000)]), {
    constructor: MakeLazyError,
    message: 'pagemap-9.img: entry 1 (0x10000-0x14000) is LAZY|PRESENT but 0x12000 is not in a lazy-able VMA; refusing to strip it',
  })
  t.throws(() => stripPagemap(buf, 'pagemap-9.img', () => []), { message: /0x10000 is not in a lazy-able VMA/ })
  t.throws(() => stripPagemap(buf, 'pagemap-9.img', () => [anonVma(0x10000, 0x11000), anonVma(0x12000, 0x20000)]), {
    message: /0x11000 is not in a lazy-able VMA/,
  })
  t.throws(() => stripPagemap(buf, 'pagemap-9.img', () => [{ ...anonVma(0x10000, 0x20000), flags: 0x2022 }]), {
    message: /0x10000 is not in a lazy-able VMA/,
  })
})

t.test('a corrupted pagemap is an ImageError naming the file', async (t) => {
  const buf = pagemapImg(1, [{ vaddr: 0x1000, nrPages: 1, flags: PE_PRESENT }])
  buf[buf.length - 1] = 0xff
  t.throws(() => stripPagemap(buf, '/x/pagemap-9.img', () => []), { constructor: ImageError, message: /^\/x\/pagemap-9\.img: entry 1/ })
})
