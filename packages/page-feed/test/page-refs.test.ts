// The hybrid's lazy final round, source side, in one process: PageRefs cuts pages into references
// to the base index and bytes; a Feeder with a base (against a scripted page server) sends the
// unchanged pages as PAGE_REFs carrying their hashes, the changed ones as PAGE_RANGE bytes, and
// says so in its hello and its stats. (uffd-serve's side: uffd-serve/test/base-pages.test.ts.)
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { PAGE_SIZE } from '@criu-pipes/criu-image'
import { IndexWriter, PageStreamDecoder, REF_HASH_BYTES, encodeDone, encodePush, hashPages, readIndex } from '@criu-pipes/framing'
import type { ContentIndex, PageMessage } from '@criu-pipes/framing'
import { Log } from '@criu-pipes/lazy-pages'
import type { ImageSet, PageServerSource } from '@criu-pipes/lazy-pages'
import { Region, closeQuietly, makePipe, readSome, setNonBlocking, setPipeSize, writeAll } from '@criu-pipes/sys'
import { Feeder, PageRefs } from '../src/index.js'

const BASE = 0x7f0000000000
const PID = 42
/** The process's lazy memory: pages 0-63, two ranges (0-15, 20-63) as CRIU's pagemap would list them. */
const RANGES: [number, number][] = [[0, 16], [20, 64]]
const LAZY = RANGES.flatMap(([s, e]) => Array.from({ length: e - s }, (_, i) => s + i))
/** Pages the process changed since the base was taken. */
const CHURNED = [3, 30, 31, 50]

const page = (i: number, changed = CHURNED.includes(i)): Buffer => {
  const p = Buffer.alloc(PAGE_SIZE, (i * 13 + 7) & 0xff)
  p.writeUInt32LE(i, 0)
  if (changed) p.fill(0xcc, 8)
  return p
}
const hashOf = (b: Buffer): Buffer => { const h = Buffer.alloc(REF_HASH_BYTES); hashPages(b, 1, h); return h }

function tmpDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'page-feed-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * The index of the base, as img-split --index-out writes it: the process before the churn, its
 * pages in two files as CRIU would split them (pages-7.img: pages 0-39 after two pages of
 * something else; pages-8.img: 40-63).
 */
function baseIndex(t: Test): ContentIndex {
  const path = join(tmpDir(t), 'base.idx')
  const w = IndexWriter.create(path)
  const files: [string, Buffer[]][] = [
    ['pages-7.img', [Buffer.alloc(PAGE_SIZE, 0xee), Buffer.alloc(PAGE_SIZE, 0xef), ...Array.from({ length: 40 }, (_, i) => page(i, false))]],
    ['pages-8.img', Array.from({ length: 24 }, (_, i) => page(40 + i, false))],
  ]
  for (const [name, pages] of files) {
    const id = w.fileId(name)
    pages.forEach((p, n) => w.add(id, n, hashOf(p), 0))
  }
  w.finish()
  return readIndex(path)
}

const images: ImageSet = {
  dir: '/nonexistent', label: 'scripted images', taskCount: 1, dumpId: Buffer.alloc(16, 0xd),
  tasks: new Map([[PID, {
    pid: PID, pagesId: 1, entries: [], uncovered: 0, lazyPages: LAZY.length,
    lazy: RANGES.map(([s, e]) => ({ start: BASE + s * PAGE_SIZE, end: BASE + e * PAGE_SIZE, img: BASE + s * PAGE_SIZE })),
  }]]),
}

/** CRIU's page server for the frozen process: its pages now, at most 16 per GET; once all are read, the daemon's PAGES_DONE arrives. */
function scriptedServer(done: () => void): PageServerSource {
  let served = 0
  return {
    name: 'scripted page server',
    read(_pid: number, imgAddr: number, nrPages: number, dst: Region): number {
      const n = Math.min(nrPages, 16)
      for (let i = 0; i < n; i++) page((imgAddr - BASE) / PAGE_SIZE + i).copy(dst.buffer(i * PAGE_SIZE, PAGE_SIZE))
      if ((served += n) === LAZY.length) done()
      return n
    },
    closeSession: () => 0,
  } as unknown as PageServerSource
}

/** Runs a Feeder over pipes until every lazy page is out; its stats and the messages it wrote. */
function feed(t: Test, base: ContentIndex | undefined): { stats: ReturnType<Feeder['run']>; msgs: PageMessage[] } {
  const [inR, inW] = makePipe()
  const [outR, outW] = makePipe()
  t.teardown(() => { for (const fd of [inR, inW, outR, outW]) closeQuietly(fd) })
  setPipeSize(outW, 1 << 20) // the whole stream fits: nobody reads it while the feeder runs
  writeAll(inW, encodePush(LAZY.length))
  const stats = new Feeder(images, scriptedServer(() => writeAll(inW, encodeDone())), inR, outW, Log.toStderr(0), base !== undefined ? { base } : undefined).run()
  setNonBlocking(outR, true)
  const dec = new PageStreamDecoder()
  const msgs: PageMessage[] = []
  for (let b = Buffer.alloc(1 << 20), n; (n = readSome(outR, b)) > 0;) dec.decode(b.subarray(0, n), msgs)
  t.ok(dec.atBoundary)
  t.same(msgs.pop(), { kind: 'done', status: 0 }, 'the feeder confirmed the end')
  return { stats, msgs }
}

t.test('PageRefs.split: runs at consecutive pages of one base file are one reference each; changed pages are bytes', async (t) => {
  const refs = new PageRefs(baseIndex(t), 64)
  const data = Buffer.concat(Array.from({ length: 26 }, (_, i) => page(28 + i)))
  t.same(refs.split(data, 26), [
    { first: 0, pages: 2, ref: { file: 'pages-7.img', filePage: 30 } }, // 28, 29
    { first: 2, pages: 2 }, // 30, 31 changed
    { first: 4, pages: 8, ref: { file: 'pages-7.img', filePage: 34 } }, // 32-39
    { first: 12, pages: 10, ref: { file: 'pages-8.img', filePage: 0 } }, // 40-49: another file
    { first: 22, pages: 1 }, // 50 changed
    { first: 23, pages: 3, ref: { file: 'pages-8.img', filePage: 11 } }, // 51-53
  ])
  t.same(refs.split(Buffer.concat([page(5), page(4), page(6)]), 3), [
    { first: 0, pages: 1, ref: { file: 'pages-7.img', filePage: 7 } },
    { first: 1, pages: 1, ref: { file: 'pages-7.img', filePage: 6 } },
    { first: 2, pages: 1, ref: { file: 'pages-7.img', filePage: 8 } },
  ], 'pages the base holds out of order: one reference each')
  t.same(refs.hashes.subarray(0, REF_HASH_BYTES), hashOf(page(5)), 'the hashes of the last split are kept: a PAGE_REF\'s payload')
})

t.test('a Feeder with a base: unchanged pages as PAGE_REF with their hashes, changed ones as bytes; hello and stats say so', async (t) => {
  const { stats, msgs } = feed(t, baseIndex(t))
  const churned = CHURNED.filter((i) => LAZY.includes(i)).length
  t.same(msgs[0], { kind: 'hello', version: 2, pageSize: PAGE_SIZE, pages: LAZY.length, dumpId: images.dumpId, refs: true })
  t.equal(stats.pushedPages, LAZY.length, 'every lazy page pushed once')
  t.equal(stats.refPages, LAZY.length - churned, 'all but the churned pages as references')
  t.equal(stats.refs, msgs.filter((m) => m.kind === 'ref').length)
  const got = new Map<number, string>()
  for (const m of msgs.slice(1)) {
    if (m.kind === 'range') {
      for (let i = 0; i < m.nrPages; i++) got.set((m.vaddr - BASE) / PAGE_SIZE + i, `bytes ${m.data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE).equals(page((m.vaddr - BASE) / PAGE_SIZE + i)) ? 'ok' : 'wrong'}`)
    } else if (m.kind === 'ref') {
      for (let i = 0; i < m.nrPages; i++) {
        const n = (m.vaddr - BASE) / PAGE_SIZE + i
        const basePage = m.file === 'pages-7.img' ? m.filePage + i - 2 : 40 + m.filePage + i
        got.set(n, `ref ${basePage === n && m.hashes.subarray(i * REF_HASH_BYTES, (i + 1) * REF_HASH_BYTES).equals(hashOf(page(n))) ? 'ok' : 'wrong'}`)
      }
    } else {
      t.fail(`unexpected ${m.kind}`)
    }
  }
  t.same([...got.keys()].sort((a, b) => a - b), LAZY, 'every lazy page once')
  t.same([...got.entries()].filter(([, v]) => v.startsWith('bytes')).map(([n]) => n).sort((a, b) => a - b), CHURNED, 'the churned pages as bytes')
  t.ok([...got.values()].every((v) => v.endsWith('ok')), 'each as the right bytes, or a reference to the base page holding it with its hash')
})

t.test('without a base the Feeder sends bytes, as before, and no refs in its hello', async (t) => {
  const { stats, msgs } = feed(t, undefined)
  t.equal(stats.refPages, 0)
  t.equal(stats.refs, 0)
  t.equal(msgs[0]?.kind === 'hello' && msgs[0].refs, false)
  t.ok(msgs.slice(1).every((m) => m.kind === 'range'))
})
