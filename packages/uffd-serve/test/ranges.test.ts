// Range bookkeeping: the lazy ranges of a process through splits, faults, events and forks.
import t from 'tap'
import { PAGE_SIZE } from '@criu-pipes/criu-image'
import { closeQuietly, makePipe } from '@criu-pipes/sys'
import { CHUNK_STEP, ChunkSize, FIRST_CHUNK, LazyRanges, MAX_CHUNK, PushThrottle, splitAtVmas } from '@criu-pipes/lazy-pages'
import type { LazyRange } from '@criu-pipes/lazy-pages'
import { LazyProcess } from '../src/index.js'

const P = PAGE_SIZE
const B = 0x7f0000000000
const at = (page: number): number => B + page * P
/** [startPage, endPage, imgPage] triples, for readable expectations. */
const pages = (rs: Iterable<LazyRange>): number[][] => [...rs].map((r) => [(r.start - B) / P, (r.end - B) / P, (r.img - B) / P])
const mk = (...triples: number[][]): LazyRanges =>
  new LazyRanges(triples.map(([s, e, i]) => ({ start: at(s!), end: at(e!), img: at(i ?? s!) })))

t.test('splitAtVmas cuts lazy entries at VMA boundaries, as collect_iovs', async (t) => {
  const vmas = [{ start: at(0), end: at(10) }, { start: at(10), end: at(30) }, { start: at(40), end: at(50) }]
  const { ranges, uncovered } = splitAtVmas([
    { vaddr: at(2), nrPages: 4 }, // inside the first VMA
    { vaddr: at(8), nrPages: 25 }, // spans VMA 1, VMA 2, and 3 pages of the hole 30-40
    { vaddr: at(45), nrPages: 5 }, // inside the last
  ], vmas)
  t.same(pages(ranges), [[2, 6, 2], [8, 10, 8], [10, 30, 10], [45, 50, 45]])
  t.equal(uncovered, 3, 'pages outside every VMA are counted, not served')
  t.same(splitAtVmas([{ vaddr: at(0), nrPages: 4 }], []), { ranges: [], uncovered: 4 })
})

t.test('take and drop split ranges and keep dump-time addresses', async (t) => {
  const r = mk([0, 10], [20, 30])
  t.equal(r.pages, 20)
  t.same(pages(r.take(at(4), at(5))), [[4, 5, 4]], 'one page out of the middle (a fault)')
  t.same(pages(r), [[0, 4, 0], [5, 10, 5], [20, 30, 20]])
  t.same(pages(r.take(at(8), at(22))), [[8, 10, 8], [20, 22, 20]], 'across two ranges')
  t.equal(r.drop(at(0), at(100)), 15)
  t.ok(r.isEmpty())
  t.equal(r.pages, 0)
  t.same(r.take(at(0), at(1)), [], 'nothing there')
})

t.test('covering and has', async (t) => {
  const r = mk([0, 2], [5, 6])
  t.equal(r.covering(at(1) + 123)?.start, at(0))
  t.notOk(r.has(at(2)))
  t.ok(r.has(at(5)))
  t.notOk(r.has(at(6)))
  t.equal(r.first()?.start, at(0))
})

t.test('REMAP moves run-time addresses and keeps image addresses', async (t) => {
  const r = mk([0, 10], [20, 30])
  // mremap pages 5..25 to 100..120: parts of both ranges move, in order, dump addresses kept.
  r.remap(at(5), at(100), 20 * P)
  t.same(pages(r), [[0, 5, 0], [25, 30, 25], [100, 105, 5], [115, 120, 20]])
  t.equal(r.pages, 20, 'nothing lost')
  // A remap onto ranges still recorded there replaces them (the kernel unmapped the target).
  const s = mk([0, 4], [10, 14])
  s.remap(at(0), at(10), 2 * P)
  t.same(pages(s), [[2, 4, 2], [10, 12, 0], [12, 14, 12]])
})

t.test('insert puts ranges back in order and replaces overlaps', async (t) => {
  const r = mk([10, 20])
  r.insert({ start: at(0), end: at(2), img: at(50) })
  r.insert({ start: at(15), end: at(25), img: at(60) })
  t.same(pages(r), [[0, 2, 50], [10, 15, 10], [15, 25, 60]])
  t.equal(r.pages, 17)
})

t.test('clone is deep', async (t) => {
  const r = mk([0, 4])
  const c = r.clone()
  c.take(at(0), at(1))
  t.equal(r.pages, 4)
  t.equal(c.pages, 3)
})

t.test('background chunks grow by 64 KiB up to 4 MiB and reset on faults', async (t) => {
  const c = new ChunkSize()
  t.equal(FIRST_CHUNK, 64 << 10)
  t.equal(CHUNK_STEP, 64 << 10)
  t.equal(MAX_CHUNK, 4 << 20)
  t.same([c.next(), c.next(), c.next()], [64 << 10, 128 << 10, 192 << 10])
  for (let i = 0; i < 100; i++) c.next()
  t.equal(c.next(), MAX_CHUNK, 'capped')
  c.reset()
  t.equal(c.next(), FIRST_CHUNK)
})

t.test('background push throttle', async (t) => {
  const none = new PushThrottle()
  none.spent(1 << 30, 0)
  t.equal(none.waitMs(0), 0, 'no limit')
  const th = new PushThrottle(1 << 20)
  t.equal(th.waitMs(1000), 0)
  th.spent(256 << 10, 1000)
  t.equal(th.waitMs(1000), 250, '256 KiB at 1 MiB/s: 250 ms')
  t.equal(th.waitMs(1200), 50)
  t.equal(th.waitMs(1300), 0)
  th.spent(512 << 10, 5000)
  t.equal(th.waitMs(5000), 500, 'idle time is not saved up for a burst')
})

t.test('LazyProcess: fork copies remaining and in-flight ranges; drop and remap cover in-flight work', async (t) => {
  const [a, b] = makePipe()
  const [c2, d] = makePipe()
  t.teardown(() => { for (const fd of [a, b, c2, d]) closeQuietly(fd) })
  const p = new LazyProcess(7, a, mk([0, 10]), 10)
  t.equal(p.label, `7-${a}`)
  p.ranges.take(at(2), at(3))
  p.inFlight.insert({ start: at(2), end: at(3), img: at(2) })
  p.zeroInFlight.add(at(40))
  t.ok(p.isInFlight(at(2)))
  t.ok(p.isInFlight(at(40)))
  t.notOk(p.isDone())

  const child = p.fork(c2)
  t.equal(child.pid, 7, 'the child reads the parent\'s image')
  t.same(pages(child.ranges), [[0, 2, 0], [2, 3, 2], [3, 10, 3]], 'in-flight work is the child\'s to do again')
  t.equal(child.total, 10)
  t.notOk(child.hasInFlight())

  p.remap(at(0), at(100), 50 * P)
  t.same(pages(p.inFlight), [[102, 103, 2]])
  t.ok(p.zeroInFlight.has(at(140)))
  t.equal(p.drop(at(100), at(200)), 11, 'ranges, in-flight and zero in-flight dropped')
  t.ok(p.isDone())

  child.markGone()
  t.ok(child.gone && child.isDone())
  t.match(child.summary(), /UFFD transferred pages: \(0\/10\) \[process exited\]/)
})

t.test('byImg and takeImg find run-time pieces by dump-time address, also after a remap', async (t) => {
  const r = mk([0, 4], [10, 14])
  r.remap(at(10), at(20), 4 * P) // [20, 24) now holds dump-time pages 10..13
  t.same(pages(r.byImg(at(2), at(12))), [[2, 4, 2], [20, 22, 10]], 'the tail of one, the head of the moved one')
  t.same(pages(r.takeImg(at(11), at(13))), [[21, 23, 11]])
  t.same(pages(r), [[0, 4, 0], [20, 21, 10], [23, 24, 13]], 'taken out, the rest kept')
  t.same(r.byImg(at(5), at(10)), [], 'nothing between')
})

t.test('LazyProcess: awaited pages are owed, needed, forked, dropped and remapped', async (t) => {
  const [rfd, wfd] = makePipe()
  t.teardown(() => { closeQuietly(rfd); closeQuietly(wfd) })
  const p = new LazyProcess(1, rfd, mk([0, 8]), 8)
  const [piece] = p.ranges.take(at(3), at(4))
  p.awaiting.insert(piece!)
  t.equal(p.owed, 8, 'still owed while awaited')
  t.ok(p.isInFlight(at(3)), 'a second fault on it waits for the same copy')
  t.notOk(p.hasInFlight(), 'but nothing for the loop to retry')
  t.notOk(p.isDone())
  t.ok(p.needsImg(at(3), at(4)))
  const child = p.fork(wfd)
  t.same(pages(child.ranges), [[0, 3, 0], [3, 4, 3], [4, 8, 4]], 'the child is owed the awaited page too')
  p.remap(at(0), at(100), 8 * P)
  t.same(pages(p.awaiting), [[103, 104, 3]], 'remapped')
  t.equal(p.drop(at(103), at(104)), 1)
  t.ok(p.awaiting.isEmpty())
})
