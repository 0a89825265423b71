// The exported read/write helpers check offset and length against the memory they are given:
// a length taken from a stream must never make the kernel write past a Buffer or into a region
// that is gone.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makePipe, close, readSome, readFull, writeSome, writeAll, preadFull, vmspliceAll, Region } from '../src/index.js'

t.test('readSome, readFull, writeSome, writeAll refuse a span outside the buffer', async t => {
  const [r, w] = makePipe()
  t.teardown(() => { close(r); close(w) })
  writeAll(w, Buffer.alloc(4000, 0x41))
  const small = Buffer.alloc(16)
  t.throws(() => readSome(r, small, 0, 4000), RangeError, 'readSome: 4000 bytes into 16')
  t.throws(() => readFull(r, small, 0, 4000), RangeError, 'readFull: 4000 bytes into 16')
  t.throws(() => readFull(r, small, 17), RangeError, 'an offset past the end')
  t.throws(() => readFull(r, small, -1, 4), RangeError, 'a negative offset')
  t.throws(() => readFull(r, small, 0, -4), RangeError, 'a negative length')
  t.throws(() => readFull(r, small, 1.5, 4), RangeError, 'a fractional offset')
  t.same(small, Buffer.alloc(16), 'nothing was written into the buffer')
  t.throws(() => writeSome(w, small, 8, 100), RangeError, 'writeSome: reads past the buffer')
  t.throws(() => writeAll(w, small, 0, 17), RangeError, 'writeAll: reads past the buffer')
  t.throws(() => vmspliceAll(w, small, 4096), RangeError, 'vmsplice: hands the pipe memory past the buffer')
  t.equal(readFull(r, small, 8, 8), 8, 'a span inside the buffer works')
  t.equal(readSome(r, small, 16, 0), 0, 'an empty span at the very end is allowed')
})

t.test('preadFull refuses a span outside the buffer', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'bounds-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'f'), Buffer.alloc(4000, 0x42))
  const fd = openSync(join(dir, 'f'), 'r')
  t.teardown(() => closeSync(fd))
  const small = Buffer.alloc(16)
  t.throws(() => preadFull(fd, small, 0, 0, 4000), RangeError, '4000 bytes into 16')
  t.throws(() => preadFull(fd, small, 0, 10, 7), RangeError, 'an offset plus length past the end')
  t.same(small, Buffer.alloc(16), 'nothing was written')
  t.equal(preadFull(fd, small, 0, 0, 16), 16)
})

t.test('Region.buffer checks its span and refuses after unmap', async t => {
  const region = new Region(8192)
  t.equal(region.buffer(4096, 4096).length, 4096)
  t.throws(() => region.buffer(4096, 4097), RangeError, 'past the end of the region')
  t.throws(() => region.buffer(8193), RangeError, 'an offset past the end')
  region.unmap()
  t.notOk(region.mapped, 'unmapped')
  t.throws(() => region.buffer(), /unmapped/, 'no view of memory that is gone')
})
