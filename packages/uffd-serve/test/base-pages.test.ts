// The hybrid's lazy final round, destination side: a StreamSource with a base (--base DIR) resolves
// the feeder's PAGE_REFs from the base's files, checking every page's hash before it is handed out
// for UFFDIO_COPY; a base that does not hold them (a page changed, a file too short or missing) is
// refused, and so is a feeder that sends references to a daemon without a base. (page-feed's side:
// page-feed/test/page-refs.test.ts.)
import { spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { PAGE_SIZE } from '@criu-pipes/criu-image'
import { REF_HASH_BYTES, encodeHello, encodeRangeHeader, encodeRefHeader, hashPages } from '@criu-pipes/framing'
import { loadImageSet } from '@criu-pipes/lazy-pages'
import { Region, closeQuietly, makePipe, openPrivateDir, setPipeSize, writeAll } from '@criu-pipes/sys'
import { BaseRefError, StreamSource } from '../src/index.js'
import { BIN, MADE_LAZY, pageData, tmpDir, writeImages } from './fixtures/lazy-task.js'

const BASE = 0x7f0000000000
const PID = 42
const ID = Buffer.alloc(16, 0xd)
/** Process pages 0-9 now: 0-3 and 6-9 as the base holds them (pages-7.img pages 2..), 4-5 changed. */
const PAGES = 10
const now = (i: number): Buffer => (i === 4 || i === 5 ? Buffer.alloc(PAGE_SIZE, 0xcc) : pageData(i))
const hashes = (from: number, n: number): Buffer => {
  const h = Buffer.alloc(n * REF_HASH_BYTES)
  hashPages(Buffer.concat(Array.from({ length: n }, (_, i) => now(from + i))), n, h)
  return h
}

/** The base: pages-7.img, two pages of something else, then pages 0-9 as they were. */
function makeBase(t: Test): string {
  const dir = join(tmpDir(t), 'base')
  mkdirSync(dir, { mode: 0o700 })
  writeFileSync(join(dir, 'pages-7.img'), Buffer.concat([Buffer.alloc(2 * PAGE_SIZE, 0xee), ...Array.from({ length: PAGES }, (_, i) => pageData(i))]), { mode: 0o600 })
  return dir
}

/** What page-feed --base-index sends for pages 0-9: a reference, the changed pages' bytes, a reference. */
const STREAM = Buffer.concat([
  encodeHello(PAGES, ID, true),
  encodeRefHeader({ pid: PID, vaddr: BASE, nrPages: 4, requested: false, file: 'pages-7.img', filePage: 2 }), hashes(0, 4),
  encodeRangeHeader({ pid: PID, vaddr: BASE + 4 * PAGE_SIZE, nrPages: 2 }, false), now(4), now(5),
  encodeRefHeader({ pid: PID, vaddr: BASE + 6 * PAGE_SIZE, nrPages: 4, requested: true, file: 'pages-7.img', filePage: 8 }), hashes(6, 4),
])

/** A StreamSource reading `stream`, with `base` or without. */
function source(t: Test, stream: Buffer, base?: string): StreamSource {
  const [r, w] = makePipe()
  const [reqR, reqW] = makePipe()
  setPipeSize(w, 1 << 20)
  writeAll(w, stream)
  closeQuietly(w)
  const baseFd = base !== undefined ? openPrivateDir(base) : undefined
  t.teardown(() => { closeQuietly(reqR); closeQuietly(reqW); if (baseFd !== undefined) closeQuietly(baseFd) })
  const src = StreamSource.overFds(r, reqW, baseFd !== undefined ? { base: { fd: baseFd, path: base! } } : {})
  t.teardown(() => src.abort())
  return src
}

/** Every page that arrives, read as the daemon reads it for UFFDIO_COPY (at most 3 pages a read). */
function readAll(src: StreamSource): Buffer[] {
  src.hello({ pages: PAGES, dumpId: ID }, 1000)
  const got: Buffer[] = []
  const dst = new Region(3 * PAGE_SIZE)
  try {
    for (let eof = false; !eof;) {
      const p = src.pump()
      eof = p.eof
      for (const a of p.arrivals) {
        for (let i = 0; i < a.nrPages;) {
          const n = src.read(a.pid, a.img + i * PAGE_SIZE, a.nrPages - i, dst)
          for (let k = 0; k < n; k++) got.push(Buffer.from(dst.buffer(k * PAGE_SIZE, PAGE_SIZE)))
          i += n
        }
      }
    }
  } finally {
    dst.unmap()
  }
  return got
}

function tamper(dir: string, page: number): void {
  const fd = openSync(join(dir, 'pages-7.img'), 'r+')
  writeSync(fd, Buffer.from('tampered'), 0, 8, page * PAGE_SIZE + 100)
  closeSync(fd)
}

t.test('references are read from the base, each page checked; bytes as they came', async (t) => {
  const src = source(t, STREAM, makeBase(t))
  const got = readAll(src)
  t.equal(got.length, PAGES)
  t.ok(got.every((b, i) => b.equals(now(i))), 'every page is the process\'s page now')
  t.same(src.counts, { pushed: 6, answered: 4, requests: 0, peakHeldPages: 10, refPages: 8 })
  t.match(src.summary(), /, 8 of them as references to the base;/)
})

t.test('a base that does not hold the referenced pages is refused before any page of it is handed out', async (t) => {
  const base = makeBase(t)
  tamper(base, 10) // process page 8
  t.throws(() => readAll(source(t, STREAM, base)), { name: 'BaseRefError', message: /^base file .*\/base\/pages-7\.img page 10 is not the page the feeder refers to: a wrong base, or one changed since it was received; refused before any process got it$/ })
  writeFileSync(join(base, 'pages-7.img'), Buffer.alloc(9 * PAGE_SIZE))
  t.throws(() => readAll(source(t, STREAM, base)), { name: 'BaseRefError', message: /pages-7\.img page 2 is not the page/ }, 'another file in its place')
  writeFileSync(join(base, 'pages-7.img'), Buffer.concat([Buffer.alloc(2 * PAGE_SIZE), ...Array.from({ length: 7 }, (_, i) => pageData(i))]))
  t.throws(() => readAll(source(t, STREAM, base)), { name: 'BaseRefError', message: /pages-7\.img ends before its page 9: not the base the feeder's --base-index describes/ }, 'a file too short')
  rmSync(join(base, 'pages-7.img'))
  t.throws(() => readAll(source(t, STREAM, base)), new BaseRefError(`base file ${base}/pages-7.img: open (base file ${base}/pages-7.img): No such file or directory (ENOENT): the base does not hold the pages the feeder refers to`), 'a file missing')
})

t.test('references to a daemon without a base: refused at the hello, and a PAGE_REF without one in any case', async (t) => {
  t.throws(() => readAll(source(t, STREAM)), /sends pages as references to a base \(page-feed --base-index\), and there is no --base to read them from/)
  const noHello = Buffer.concat([encodeHello(PAGES, ID), STREAM.subarray(encodeHello(PAGES, ID, true).length)])
  t.throws(() => readAll(source(t, noHello)), /there is no --base to read them from/)
})

t.test('uffd-serve without --base refuses a feeder that sends references with one line, before it listens', async (t) => {
  const root = tmpDir(t)
  const images = join(root, 'images')
  mkdirSync(images)
  writeImages(images, { pid: PID, base: BASE, ...MADE_LAZY })
  const set = loadImageSet(images)
  const r = spawnSync(process.execPath, [BIN, '-D', images, '-W', join(root, 'work'), '--pages-fds', '0,1'], {
    input: encodeHello(MADE_LAZY.lazyPages, set.dumpId, true), timeout: 30_000, encoding: 'utf8',
  })
  t.equal(r.status, 1, 'exit 1')
  t.match(r.stderr, /^uffd-serve: page stream on fds 0,1 sends pages as references to a base \(page-feed --base-index\), and there is no --base to read them from\n$/, `one line: ${r.stderr}`)
})
