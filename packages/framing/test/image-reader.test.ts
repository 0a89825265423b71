// ImageReader at its limits: streams crafted to hurt the reader (a run of repeated filename
// markers, an image with no file) and payload calls whose sizes do not fit the caller's memory.
import t, { type Test } from 'tap'
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Region } from '@criu-pipes/sys'
import { ImageReader, encodeMarker, FramingError, type MarkerBody } from '../src/index.js'

function streamFd(t: Test, bodies: MarkerBody[], payload: Record<number, Buffer> = {}): number {
  const dir = mkdtempSync(join(tmpdir(), 'reader-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const parts = bodies.flatMap((body, seq) => [encodeMarker({ seq, body }), payload[seq] ?? Buffer.alloc(0)])
  writeFileSync(join(dir, 's'), Buffer.concat(parts))
  return openSync(join(dir, 's'), 'r')
}

const name = (n: string): MarkerBody => ({ kind: 'filename', name: n })
const eof: MarkerBody = { kind: 'file_eof' }
const end: MarkerBody = { kind: 'image_eof' }

t.test('a long run of repeated filename markers is read without recursion', async t => {
  // About 2 MB of markers naming the open file again: one stack frame each used to overflow.
  const repeats = 200_000
  const bodies = [name('pages-1.img'), ...Array.from({ length: repeats }, () => name('pages-1.img')), eof, end]
  const reader = new ImageReader([streamFd(t, bodies)])
  const events: string[] = []
  for (let ev = reader.next(); ev.type !== 'end'; ev = reader.next()) events.push(`${ev.type} ${'name' in ev ? ev.name : ''}`)
  t.same(events, ['open pages-1.img', 'close pages-1.img'], 'one open and one close, the repeats absorbed')
  t.ok(reader.stats()[0]!.size > 2_000_000, 'the whole crafted stream was read')
})

t.test('an image with no file at all is refused: it is what a failed dump leaves', async t => {
  const reader = new ImageReader([streamFd(t, [end])])
  t.throws(() => reader.next(), { message: /empty image: image_eof before any file/ })
  let err: unknown
  try { new ImageReader([streamFd(t, [end])]).next() } catch (e) { err = e }
  t.ok(err instanceof FramingError, 'a FramingError (one line, exit 1 in the binaries)')
})

t.test('payloadInto and payloadIntoRegion refuse a payload that does not fit', async t => {
  const bodies: MarkerBody[] = [name('a'), { kind: 'file_data', size: 4000 }, eof, end]
  const reader = new ImageReader([streamFd(t, bodies, { 1: Buffer.alloc(4000, 0x41) })])
  reader.next()
  t.equal(reader.next().type, 'data')
  const small = Buffer.alloc(16)
  t.throws(() => reader.payloadInto(small), RangeError, 'a 16-byte buffer cannot take 4000 bytes')
  t.same(small, Buffer.alloc(16), 'and nothing was written into it')

  const again = new ImageReader([streamFd(t, bodies, { 1: Buffer.alloc(4000, 0x41) })])
  again.next(); again.next()
  t.throws(() => again.payloadInto(Buffer.alloc(8192), 5000), RangeError, 'nor a big buffer at an offset too far in')

  const region = new Region(4096)
  t.teardown(() => region.unmap())
  const r2 = new ImageReader([streamFd(t, bodies, { 1: Buffer.alloc(4000, 0x41) })])
  r2.next(); r2.next()
  t.throws(() => r2.payloadIntoRegion(region, 100), RangeError, 'a region with 3996 bytes left cannot take 4000')
  t.equal(region.buffer().readUInt32LE(100), 0, 'and nothing was written into it')

  const gone = new Region(8192)
  gone.unmap()
  const r3 = new ImageReader([streamFd(t, bodies, { 1: Buffer.alloc(4000, 0x41) })])
  r3.next(); r3.next()
  t.throws(() => r3.payloadIntoRegion(gone, 0), /unmapped/, 'nor an unmapped region')

  const ok = new ImageReader([streamFd(t, bodies, { 1: Buffer.alloc(4000, 0x41) })])
  ok.next(); ok.next()
  const fits = Buffer.alloc(4004)
  ok.payloadInto(fits, 4)
  t.equal(fits.subarray(4).toString(), 'A'.repeat(4000), 'a payload that fits exactly is read')
})
