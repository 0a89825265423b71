import t from 'tap'
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  isRegularFile, fileSize, lseek, fadvise, preadFull, spliceFromFile, makePipe, close, readFull, writeSome, setPipeSize,
  Region, SEEK_CUR, SEEK_SET, POSIX_FADV_SEQUENTIAL, POSIX_FADV_WILLNEED, SPLICE_F_NONBLOCK, O_CLOEXEC, O_NONBLOCK,
  epollCreate, epollAdd, epollDel, epollWait, EPOLLOUT, EPOLLET,
} from '../src/index.js'

const bytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 9)) & 0xff))

t.test('a regular file: size, seeking past the end, advice, pread', async t => {
  const path = join(t.testdir(), 'f')
  const data = bytes(100_000)
  writeFileSync(path, data)
  const fd = openSync(path, 'r')
  const [r, w] = makePipe()
  t.ok(isRegularFile(fd))
  t.notOk(isRegularFile(r), 'a pipe is not')
  t.notOk(isRegularFile(9999), 'nor a closed fd')
  t.equal(fileSize(fd), 100_000)
  t.equal(lseek(fd, 10, SEEK_SET), 10)
  t.equal(lseek(fd, 200_000, SEEK_CUR), 200_010, 'past the end is allowed')
  t.equal(readSync(fd, Buffer.alloc(10), 0, 10, null), 0, 'and reads EOF there')
  t.throws(() => lseek(fd, -1, SEEK_SET), /lseek.*EINVAL/)
  fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
  fadvise(fd, 0, 0, POSIX_FADV_WILLNEED)
  t.throws(() => fadvise(r, 0, 0, POSIX_FADV_WILLNEED), /posix_fadvise.*ESPIPE/, 'a pipe takes no advice')
  const b = Buffer.alloc(1000)
  t.equal(preadFull(fd, b, 99_500, 0, 1000), 500, 'pread stops at the end of the file')
  t.ok(b.subarray(0, 500).equals(data.subarray(99_500)))
  t.equal(lseek(fd, 0, SEEK_CUR), 200_010, 'pread leaves the offset alone')
  closeSync(fd)
  close(r); close(w)
})

t.test('spliceFromFile: from a position, the fd offset untouched; 0 at the end; -1 when the pipe is full', async t => {
  const path = join(t.testdir(), 'f')
  const data = bytes(300_000)
  writeFileSync(path, data)
  const fd = openSync(path, 'r')
  const [r, w] = makePipe(O_CLOEXEC | O_NONBLOCK)
  t.equal(spliceFromFile(fd, 12_345, w, 5000, SPLICE_F_NONBLOCK), 5000)
  const out = Buffer.alloc(5000)
  t.equal(readFull(r, out), 5000)
  t.ok(out.equals(data.subarray(12_345, 17_345)), 'the bytes at that position')
  t.equal(lseek(fd, 0, SEEK_CUR), 0, 'the fd offset did not move')
  t.equal(spliceFromFile(fd, 300_000, w, 10, SPLICE_F_NONBLOCK), 0, 'at the end: 0')
  let moved = 0
  for (;;) {
    const n = spliceFromFile(fd, moved, w, 300_000 - moved, SPLICE_F_NONBLOCK)
    if (n < 0) break
    moved += n
  }
  t.ok(moved > 0 && moved < 300_000, `a 64 KiB pipe fills (${moved} bytes), then -1`)
  closeSync(fd)
  close(r); close(w)
})

t.test('Region.populate allocates the pages asked for', async t => {
  const region = new Region(1 << 20)
  t.equal(region.populate(4096 + 100, 10_000), true, 'MADV_POPULATE_WRITE (Linux 5.14+)')
  region.buffer(4096, 16384).fill(0x5a)
  t.equal(region.buffer(4096 + 16383, 1)[0], 0x5a)
  region.unmap()
})

t.test('epoll, edge-triggered on a pipe write end: an event when a read that began on a full pipe ends', async t => {
  const [r, w] = makePipe(O_CLOEXEC | O_NONBLOCK)
  setPipeSize(w, 65536)
  const ep = epollCreate()
  while (writeSome(w, Buffer.alloc(4096)) > 0) { /* fill */ }
  epollAdd(ep, w, EPOLLOUT | EPOLLET)
  t.same(epollWait(ep, 8, 0), [], 'full: nothing')
  readFull(r, Buffer.alloc(4096))
  t.same(epollWait(ep, 8, 0), [{ fd: w, events: EPOLLOUT }], 'a read from the full pipe: one event')
  t.same(epollWait(ep, 8, 0), [], 'edge-triggered: once')
  readFull(r, Buffer.alloc(4096))
  t.same(epollWait(ep, 8, 0), [], 'a read from a pipe that was not full: none')
  epollDel(ep, w)
  close(ep); close(r); close(w)
})
