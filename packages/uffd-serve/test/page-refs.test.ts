// The hybrid's lazy final round at the page-stream level, in one process: a Feeder (against a
// scripted page server) cuts what it reads into PAGE_REFs for the pages the base index holds and
// PAGE_RANGE bytes for the rest; a StreamSource with that base resolves the references from disk,
// checking every page's hash, and refuses a base that does not hold them.
import { spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { PAGE_SIZE, PE_LAZY } from '@criu-pipes/criu-image'
import { IndexWriter, REF_HASH_BYTES, encodeDone, encodeHello, encodePush, encodeRefHeader, hashPages, readIndex } from '@criu-pipes/framing'
import type { ContentIndex } from '@criu-pipes/framing'
import { Region, closeQuietly, makePipe, openPrivateDir, readSome, setNonBlocking, setPipeSize, writeAll } from '@criu-pipes/sys'
import { Log, loadImageSet } from '@criu-pipes/lazy-pages'
import type { PageServerSource } from '@criu-pipes/lazy-pages'
import { Feeder, PageRefs } from '@criu-pipes/page-feed'
import type { FeedStats } from '@criu-pipes/page-feed'
import { BaseRefError, StreamSource } from '../src/index.js'
import { BIN, MADE_LAZY, pageData, tmpDir, writeImages } from './fixtures/lazy-task.js'

const BASE = 0x7f0000000000
const PID = 42
/** Pages the process changed since the base was taken. */
const CHURNED = [3, 30, 31, 50]
const now = (i: number): Buffer => {
  const p = pageData(i)
  if (CHURNED.includes(i)) p.fill(0xcc, 8)
  return p
}

/**
 * The base: a checkpoint of the process before the churn, its pages in two files as CRIU would
 * split them (pages-7.img: pages 0-39 after two pages of something else; pages-8.img: 40-63),
 * and the index img-split --index-out would have written for it.
 */
function makeBase(t: Test, root: string): { dir: string; index: ContentIndex } {
  const dir = join(root, 'base')
  mkdirSync(dir, { mode: 0o700 })
  const files: [string, Buffer[]][] = [
    ['pages-7.img', [Buffer.alloc(PAGE_SIZE, 0xee), Buffer.alloc(PAGE_SIZE, 0xef), ...Array.from({ length: 40 }, (_, i) => pageData(i))]],
    ['pages-8.img', Array.from({ length: 24 }, (_, i) => pageData(40 + i))],
  ]
  const w = IndexWriter.create(join(root, 'base.idx'))
  for (const [name, pages] of files) {
    const data = Buffer.concat(pages)
    writeFileSync(join(dir, name), data, { mode: 0o600 })
    const hashes = Buffer.alloc(pages.length * REF_HASH_BYTES)
    hashPages(data, pages.length, hashes)
    const id = w.fileId(name)
    for (let p = 0; p < pages.length; p++) w.add(id, p, hashes, p * REF_HASH_BYTES)
  }
  w.finish()
  t.pass('base written')
  return { dir, index: readIndex(join(root, 'base.idx')) }
}

/** CRIU's page server for the frozen process: its pages now, at most `perRead` per GET; once all are read, the daemon's PAGES_DONE arrives. */
function fakeServer(lazyPages: number, done: () => void, perRead = 16): PageServerSource {
  let served = 0
  return {
    name: 'scripted page server',
    read(_pid: number, imgAddr: number, nrPages: number, dst: Region): number {
      const n = Math.min(nrPages, perRead)
      for (let i = 0; i < n; i++) now((imgAddr - BASE) / PAGE_SIZE + i).copy(dst.buffer(i * PAGE_SIZE, PAGE_SIZE))
      if ((served += n) === lazyPages) done()
      return n
    },
    closeSession: () => 0,
  } as unknown as PageServerSource
}

interface Fed { stats: FeedStats; stream: Buffer; images: ReturnType<typeof loadImageSet> }

/** Runs a Feeder over pipes until every lazy page is out; returns its stats and what it wrote. */
function feed(t: Test, root: string, base: ContentIndex | undefined): Fed {
  const imgDir = join(root, `images-${base ? 'refs' : 'plain'}`)
  mkdirSync(imgDir)
  writeImages(imgDir, { pid: PID, base: BASE, ...MADE_LAZY })
  const images = loadImageSet(imgDir)
  const [inR, inW] = makePipe()
  const [outR, outW] = makePipe()
  t.teardown(() => { for (const fd of [inR, inW, outR, outW]) closeQuietly(fd) })
  setPipeSize(outW, 1 << 20) // the whole stream fits: nobody reads it while the feeder runs
  writeAll(inW, encodePush(MADE_LAZY.lazyPages))
  const server = fakeServer(MADE_LAZY.lazyPages, () => writeAll(inW, encodeDone()))
  const stats = new Feeder(images, server, inR, outW, Log.toStderr(0), base !== undefined ? { base } : undefined).run()
  const stream: Buffer[] = []
  setNonBlocking(outR, true) // everything is in the pipe: read until it is empty
  for (;;) {
    const b = Buffer.alloc(1 << 20)
    const n = readSome(outR, b)
    if (n <= 0) break
    stream.push(b.subarray(0, n))
  }
  // Its confirming PAGES_DONE last: only StreamSource.close reads that, so it is left out here.
  const all = Buffer.concat(stream)
  const done = encodeDone()
  t.ok(all.subarray(all.length - done.length).equals(done), 'the feeder confirmed the end')
  return { stats, stream: all.subarray(0, all.length - done.length), images }
}

/** A StreamSource (with `base`, or without) reading `stream`; every lazy page read back through it. */
function receive(t: Test, fed: Fed, base: string | undefined): { src: StreamSource; pages: () => Buffer[] } {
  const [r, w] = makePipe()
  const [reqR, reqW] = makePipe()
  setPipeSize(w, 1 << 20)
  writeAll(w, fed.stream)
  closeQuietly(w)
  const baseFd = base !== undefined ? openPrivateDir(base) : undefined
  t.teardown(() => { closeQuietly(reqR); closeQuietly(reqW); if (baseFd !== undefined) closeQuietly(baseFd) })
  const src = StreamSource.overFds(r, reqW, baseFd !== undefined ? { base: { fd: baseFd, path: base! } } : {})
  const pages = (): Buffer[] => {
    const got = new Map<number, Buffer>()
    const dst = new Region(16 * PAGE_SIZE)
    try {
      for (let eof = false; !eof;) {
        const p = src.pump()
        eof = p.eof
        for (const a of p.arrivals) {
          for (let i = 0; i < a.nrPages;) {
            const n = src.read(a.pid, a.img + i * PAGE_SIZE, a.nrPages - i, dst)
            for (let k = 0; k < n; k++) got.set((a.img - BASE) / PAGE_SIZE + i + k, Buffer.from(dst.buffer(k * PAGE_SIZE, PAGE_SIZE)))
            i += n
          }
        }
      }
    } finally {
      dst.unmap()
    }
    return [...got.entries()].sort(([a], [b]) => a - b).map(([, b]) => b)
  }
  return { src, pages }
}

const lazyIndices = MADE_LAZY.entries.filter((e) => e.flags & PE_LAZY).flatMap((e) => Array.from({ length: e.nrPages }, (_, i) => e.page + i))

t.test('PageRefs.split: runs at consecutive pages of one base file are one reference each; changed pages are bytes', async (t) => {
  const { index } = makeBase(t, tmpDir(t))
  const refs = new PageRefs(index, 64)
  const data = Buffer.concat(Array.from({ length: 26 }, (_, i) => now(28 + i)))
  t.same(refs.split(data, 26), [
    { first: 0, pages: 2, ref: { file: 'pages-7.img', filePage: 30 } }, // 28, 29
    { first: 2, pages: 2 }, // 30, 31 changed
    { first: 4, pages: 8, ref: { file: 'pages-7.img', filePage: 34 } }, // 32-39
    { first: 12, pages: 10, ref: { file: 'pages-8.img', filePage: 0 } }, // 40-49: another file
    { first: 22, pages: 1 }, // 50 changed
    { first: 23, pages: 3, ref: { file: 'pages-8.img', filePage: 11 } }, // 51-53
  ])
  const swapped = Buffer.concat([now(5), now(4), now(6)])
  t.same(refs.split(swapped, 3), [
    { first: 0, pages: 1, ref: { file: 'pages-7.img', filePage: 7 } },
    { first: 1, pages: 1, ref: { file: 'pages-7.img', filePage: 6 } },
    { first: 2, pages: 1, ref: { file: 'pages-7.img', filePage: 8 } },
  ], 'pages the base holds out of order: one reference each')
  t.equal(refs.hashes.subarray(0, 32).toString('hex'), (() => { const h = Buffer.alloc(32); hashPages(now(5), 1, h); return h.toString('hex') })(),
    'the hashes of the last split are kept: a PAGE_REF\'s payload')
})

t.test('a Feeder with a base sends unchanged pages as references; a StreamSource with the base gets every page right', async (t) => {
  const root = tmpDir(t)
  const { dir, index } = makeBase(t, root)
  const fed = feed(t, root, index)
  const lazy = MADE_LAZY.lazyPages
  const churned = CHURNED.filter((i) => lazyIndices.includes(i)).length
  t.equal(fed.stats.pushedPages, lazy, 'every lazy page pushed once')
  t.equal(fed.stats.refPages, lazy - churned, 'all but the churned pages as references')
  const bytes = fed.stream.length
  t.ok(bytes < (churned + 2) * PAGE_SIZE, `the stream is about the churned pages' bytes (${bytes} bytes for ${churned} changed pages)`)
  const { src, pages } = receive(t, fed, dir)
  src.hello({ pages: lazy, dumpId: fed.images.dumpId }, 1000)
  const got = pages()
  t.equal(got.length, lazy)
  t.ok(got.every((b, i) => b.equals(now(lazyIndices[i]!))), 'each page is the process\'s page now: the base\'s where unchanged, the new bytes where churned')
  t.equal(src.counts.refPages, lazy - churned)
  t.match(src.summary(), new RegExp(`${lazy - churned} of them as references to the base`))
  src.abort()
})

t.test('without a base the Feeder sends bytes, as before, and says no refs in its hello', async (t) => {
  const root = tmpDir(t)
  const fed = feed(t, root, undefined)
  t.equal(fed.stats.refPages, 0)
  t.equal(fed.stats.refs, 0)
  const { src, pages } = receive(t, fed, undefined)
  src.hello({ pages: MADE_LAZY.lazyPages, dumpId: fed.images.dumpId }, 1000)
  t.ok(pages().every((b, i) => b.equals(now(lazyIndices[i]!))))
  src.abort()
})

t.test('a feeder that sends references to a daemon without a base: refused at the hello, before any restore', async (t) => {
  const root = tmpDir(t)
  const { index } = makeBase(t, root)
  const fed = feed(t, root, index)
  const { src } = receive(t, fed, undefined)
  t.throws(() => src.hello({ pages: MADE_LAZY.lazyPages, dumpId: fed.images.dumpId }, 1000),
    /sends pages as references to a base \(page-feed --base-index\), and there is no --base to read them from/)
  src.abort()
  // And a PAGE_REF that comes without such a hello is refused all the same.
  const [r, w] = makePipe()
  const [r2, w2] = makePipe()
  t.teardown(() => { for (const fd of [r, w, r2, w2]) closeQuietly(fd) })
  writeAll(w, Buffer.concat([encodeHello(1, fed.images.dumpId), encodeRefHeader({ pid: PID, vaddr: BASE, nrPages: 1, requested: false, file: 'pages-7.img', filePage: 2 }), Buffer.alloc(32)]))
  const bare = StreamSource.overFds(r, w2)
  bare.hello({ pages: 1, dumpId: fed.images.dumpId }, 1000)
  t.throws(() => bare.pump(), /there is no --base to read them from/)
})

t.test('a base that does not hold the referenced pages is refused before any page of it is used', async (t) => {
  const root = tmpDir(t)
  const { dir, index } = makeBase(t, root)
  const fed = feed(t, root, index)
  const tamper = (name: string, page: number): void => {
    const fd = openSync(join(dir, name), 'r+')
    writeSync(fd, Buffer.from('tampered'), 0, 8, page * PAGE_SIZE + 100)
    closeSync(fd)
  }
  tamper('pages-8.img', 5) // page 45 of the process
  const { src, pages } = receive(t, fed, dir)
  src.hello({ pages: MADE_LAZY.lazyPages, dumpId: fed.images.dumpId }, 1000)
  t.throws(() => pages(), { name: 'BaseRefError', message: /base file .*\/pages-8\.img page 5 is not the page the feeder refers to: a wrong base, or one changed since it was received/ })
  src.abort()

  const again = (): void => { const r = receive(t, fed, dir); r.src.hello({ pages: MADE_LAZY.lazyPages, dumpId: fed.images.dumpId }, 1000); try { r.pages() } finally { r.src.abort() } }
  writeFileSync(join(dir, 'pages-8.img'), Buffer.concat(Array.from({ length: 3 }, (_, i) => pageData(40 + i))))
  t.throws(again, { name: 'BaseRefError', message: /pages-8\.img ends before its page 3: not the base the feeder's --base-index describes/ }, 'a file too short')
  tamper('pages-7.img', 0)
  rmSync(join(dir, 'pages-8.img'))
  t.throws(again, BaseRefError, 'a file missing')
  t.throws(again, /pages-8\.img: .*the base does not hold the pages the feeder refers to/)
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
