// Incremental checkpoints, in process: the content index file, and a delta written by
// ContentWriter against a base read back byte for byte through DecodingReader --base, with
// pages that were inserted (everything after them shifted), rewritten and copied; the refusals of
// a reader that is given no base, a stream whose references it did not declare, and bad limits.
import t, { type Test } from 'tap'
import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import {
  ContentWriter, DecodingReader, ExtWriter, IndexWriter, ShardWriter, readIndex, type ExtWriteOptions, type Marker,
} from '../src/index.js'
import { parseShard, readImage, tmp, writeShard, type Files } from './ext/streams.js'

const PAGE = 4096
const plain: ExtWriteOptions = { compress: 'none', level: 1, checksum: false, key: null, threads: 2 }

/** Writes `files` through a ContentWriter (pages files hashed); returns the shard path and the writer's stats. */
function capture(dir: string, name: string, files: Files, opts: { base?: string; indexOut?: string; ext?: ExtWriteOptions }) {
  const shard = join(dir, `${name}.shard`)
  const fd = openSync(shard, 'w')
  const sw = new ShardWriter([fd])
  const ext = opts.base || opts.ext ? new ExtWriter(sw, { ...(opts.ext ?? plain), refs: opts.base !== undefined }) : null
  const w = new ContentWriter(ext ?? sw, {
    base: opts.base ? readIndex(opts.base) : null, index: opts.indexOut ? IndexWriter.create(opts.indexOut) : null, threads: 2,
  })
  try {
    for (const [n, data] of Object.entries(files)) {
      const src = join(dir, `${name}.${n}.src`)
      writeFileSync(src, data)
      const sfd = openSync(src, 'r')
      w.open(n)
      // in uneven bursts, as CRIU's pipe hands them over (partial pages included)
      for (let off = 0; off < data.length;) { const k = Math.min(data.length - off, 70_001); w.spliceFrom(n, sfd, k); off += k }
      closeSync(sfd)
      w.endFile(n)
    }
    w.endImage()
    w.commitIndex()
  } finally {
    w.close()
    ext?.close()
    closeSync(fd)
  }
  return { shard, stats: w.stats() }
}

function baseDir(dir: string, files: Files): string {
  const d = join(dir, 'base')
  mkdirSync(d, { mode: 0o700 })
  for (const [n, b] of Object.entries(files)) writeFileSync(join(d, n), b, { mode: 0o600 })
  return d
}

const read = (paths: string[], base: string | null, key: Buffer | null = null): Files => readImage(paths, key, 2, base)

const pages = (n: number) => randomBytes(n * PAGE)

function rounds(t: Test, ext?: ExtWriteOptions) {
  const dir = tmp(t)
  const r1: Files = { 'pagemap-1.img': randomBytes(300), 'pages-1.img': pages(300), 'pages-2.img': pages(40), 'core-1.img': randomBytes(5000) }
  const one = capture(dir, 'r1', r1, { indexOut: join(dir, 'r1.idx'), ...(ext ? { ext } : {}) })
  t.same(read([one.shard], null, ext?.key ?? null), r1, 'round 1 reads back as it was written')
  t.equal(one.stats.indexEntries, 340, 'every whole page of the pages files is indexed')
  const old = r1['pages-1.img']!
  const changed = Buffer.from(old)
  pages(10).copy(changed, 50 * PAGE) // pages 50..59 rewritten
  old.copy(changed, 200 * PAGE, 10 * PAGE, 20 * PAGE) // pages 200..209 a copy of pages 10..19
  const r2: Files = {
    'pagemap-1.img': randomBytes(310),
    // three new pages first: every later page shifted by three pages
    'pages-1.img': Buffer.concat([pages(3), changed, old.subarray(0, 2 * PAGE)]),
    'pages-2.img': Buffer.concat([r1['pages-2.img']!, Buffer.alloc(100, 7)]), // a partial page at the end
    'core-1.img': randomBytes(5000),
  }
  const two = capture(dir, 'r2', r2, { base: join(dir, 'r1.idx'), indexOut: join(dir, 'r2.idx'), ...(ext ? { ext } : {}) })
  return { dir, r1, r2, two }
}

t.test('a delta against its base reads back byte for byte: shifted, rewritten and copied pages', t => {
  const key = randomBytes(32)
  for (const [what, ext] of [
    ['plain', undefined], ['zstd + checksums', { ...plain, compress: 'zstd' as const, checksum: true }], ['encrypted', { ...plain, key }],
  ] as const) {
    const { dir, r1, r2, two } = rounds(t, ext)
    t.equal(two.stats.pages, 303 + 2 + 40, `${what}: every page hashed`)
    // runs: 0..49, 60..199, the copy, 210..299 and pages-2.img; the last 2 pages are too short a run
    t.equal(two.stats.refPages, 50 + 140 + 10 + 90 + 40, `${what}: the unchanged, shifted and copied pages are references`)
    t.ok(two.stats.refs <= 8, `${what}: in a few runs (${two.stats.refs})`)
    t.same(read([two.shard], baseDir(dir, r1), ext?.key ?? null), r2, `${what}: rebuilt from base + delta`)
    t.equal(readIndex(join(dir, 'r2.idx')).count, 345, `${what}: and round 2 wrote its own index`)
  }
  t.end()
})

t.test('content the base holds many times (zero pages) does not break a run of references', t => {
  const dir = tmp(t)
  const data = pages(400)
  for (let p = 3; p < 400; p += 7) data.fill(0, p * PAGE, (p + 1) * PAGE) // a zero page every 7th
  data.copy(data, 100 * PAGE, 20 * PAGE, 21 * PAGE) // and page 20's content twice
  const r1: Files = { 'pages-1.img': data }
  capture(dir, 'r1', r1, { indexOut: join(dir, 'r1.idx') })
  const two = capture(dir, 'r2', r1, { base: join(dir, 'r1.idx') })
  t.equal(two.stats.refPages, 400, 'every page is a reference')
  t.ok(two.stats.refs <= 2, `in one run per MAX_REF_RUN (${two.stats.refs})`)
  t.same(read([two.shard], baseDir(dir, r1)), r1, 'rebuilt from base + delta')
  t.end()
})

t.test('pages hashed on 1 or 3 workers, two pages files in interleaved bursts: the same index and the same delta', t => {
  const dir = tmp(t)
  const files: Files = { 'pages-1.img': pages(700), 'pages-2.img': pages(500) }
  const indexes: Record<number, Buffer> = {}
  capture(dir, 'base', files, { indexOut: join(dir, 'base.idx') })
  const base = baseDir(dir, files)
  const changed: Files = { 'pages-1.img': Buffer.from(files['pages-1.img']!), 'pages-2.img': files['pages-2.img']! }
  pages(30).copy(changed['pages-1.img']!, 300 * PAGE)
  for (const threads of [1, 3]) {
    const shard = join(dir, `t${threads}.shard`), idx = join(dir, `t${threads}.idx`)
    const fd = openSync(shard, 'w')
    const ext = new ExtWriter(new ShardWriter([fd]), { ...plain, threads, refs: true })
    const w = new ContentWriter(ext, { base: readIndex(join(dir, 'base.idx')), index: IndexWriter.create(idx), threads })
    try {
      const src = Object.fromEntries(Object.entries(changed).map(([n, b]) => { const p = join(dir, `t${threads}.${n}`); writeFileSync(p, b); return [n, { fd: openSync(p, 'r'), left: b.length }] }))
      for (const n of Object.keys(src)) w.open(n)
      // alternating bursts, as CRIU's pipes are read in turn; the workers keep several in flight
      for (let busy = true; busy;) {
        busy = false
        for (const [n, f] of Object.entries(src)) {
          const k = Math.min(f.left, 123_457)
          if (k) { w.spliceFrom(n, f.fd, k); f.left -= k; busy = true; w.service() }
        }
      }
      for (const [n, f] of Object.entries(src)) { closeSync(f.fd); w.endFile(n) }
      w.endImage()
      w.commitIndex()
    } finally {
      w.close()
      ext.close()
      closeSync(fd)
    }
    t.same(read([shard], base), changed, `${threads} worker(s): rebuilt from base + delta`)
    indexes[threads] = readFileSync(idx)
  }
  t.ok(indexes[1]!.equals(indexes[3]!), 'the same index, byte for byte')
  t.end()
})

t.test('a delta is refused without its base, and by a reader that did not see references declared', t => {
  const { dir, r1, two } = rounds(t)
  t.throws(() => read([two.shard], null), /the stream is a delta against a base checkpoint: give the base directory with --base DIR/)
  const base = baseDir(dir, r1)
  const recs = parseShard(two.shard)
  const h = recs[0]!.marker.body
  if (h.kind !== 'stream_header') throw new Error('no header')
  const p = join(dir, 'undeclared')
  writeShard(p, [{ ...recs[0]!, marker: { ...recs[0]!.marker, body: { ...h, header: { ...h.header, refs: 0 } } } }, ...recs.slice(1)])
  t.throws(() => read([p], base), /a chunk reference in a stream that did not declare them/)
  const at = recs.findIndex(r => r.marker.body.kind === 'chunk_ref')
  const bad = (change: (r: { baseFile: string; baseOffset: number; length: number }) => void, why: RegExp) => {
    const copy = recs.map(r => ({ ...r }))
    const body = copy[at]!.marker.body as { kind: 'chunk_ref'; ref: { baseFile: string; baseOffset: number; length: number; hash: Buffer; tag: Buffer | null } }
    const ref = { ...body.ref }
    change(ref)
    copy[at] = { ...copy[at]!, marker: { ...copy[at]!.marker, body: { kind: 'chunk_ref', ref } } }
    writeShard(p, copy)
    t.throws(() => read([p], base), why)
  }
  bad(r => { r.length = 100 }, /reference length 100 is not a whole number of pages/)
  bad(r => { r.length = 64 << 20 }, /reference length .* is not a whole number of pages up to/)
  bad(r => { r.baseOffset += 1 }, /not on a page boundary/)
  bad(r => { r.baseFile = 'core-1.img' }, /which is not a pages file/)
  bad(r => { r.baseFile = '../pages-1.img' }, /which is not a pages file|bad image file name/)
  bad(r => { r.baseOffset += PAGE }, /does not hold the referenced content/)
  chmodSync(base, 0o777)
  t.throws(() => read([two.shard], base), /base .*writable by every user/)
  t.end()
})

t.test('the index file: never overwritten nor followed, refused when damaged or writable by others', t => {
  const dir = tmp(t)
  const path = join(dir, 'x.idx')
  const w = IndexWriter.create(path)
  const h = randomBytes(64)
  w.add(w.fileId('pages-1.img'), 0, h, 0)
  w.add(w.fileId('pages-2.img'), 7, h, 32)
  w.finish()
  const idx = readIndex(path)
  t.same(idx.files, ['pages-1.img', 'pages-2.img'])
  t.same([...idx.locs], [0, 0, 1, 7])
  t.same(idx.hashes, h)
  t.throws(() => IndexWriter.create(path), /it exists/)
  symlinkSync(join(dir, 'elsewhere'), join(dir, 'link.idx'))
  t.throws(() => IndexWriter.create(join(dir, 'link.idx')), /index .*link.idx: /)
  t.throws(() => readIndex(join(dir, 'link.idx')), /symbolic link|ENOENT|no such file/i)
  const b = readFileSync(path)
  b[20] = b[20]! ^ 1
  writeFileSync(join(dir, 'bad.idx'), b, { mode: 0o600 })
  t.throws(() => readIndex(join(dir, 'bad.idx')), /checksum does not match/)
  b[20] = b[20]! ^ 1
  b[7] = 1 // the format of xxh3-128 page hashes
  writeFileSync(join(dir, 'old.idx'), b, { mode: 0o600 })
  t.throws(() => readIndex(join(dir, 'old.idx')), /index .*old.idx: an index of the old format, whose page hash \(xxh3-128\) can be collided/)
  chmodSync(path, 0o666)
  t.throws(() => readIndex(path), /lets other users write it/)
  execFileSync('mkfifo', ['-m', '600', join(dir, 'fifo.idx')])
  t.throws(() => readIndex(join(dir, 'fifo.idx')), /not a regular file/, 'a FIFO is refused, not waited on')
  t.end()
})

t.test('the index file is written as its entries come (the end, while the process is frozen, has only the tail), and is refused until finished', t => {
  const dir = tmp(t)
  const path = join(dir, 'x.idx')
  const w = IndexWriter.create(path)
  const h = randomBytes(32)
  const n = 3 * Math.floor((1 << 20) / 40) // three blocks of entries
  for (let i = 0; i < n; i++) w.add(w.fileId('pages-1.img'), i, h, 0)
  // the unnamed file (O_TMPFILE) in dir, seen through our own fd of it
  const fd = readdirSync('/proc/self/fd').find(f => { try { return readlinkSync(`/proc/self/fd/${f}`).startsWith(`${dir}/#`) } catch { return false } })
  t.ok(fd !== undefined && fstatSync(Number(fd)).size > (1 << 20), 'full blocks are in the file before finish()')
  t.notOk(existsSync(path), 'and nothing is under the name until it is complete')
  t.throws(() => readIndex(path), /index .*x.idx: /, 'an unfinished index is not there to read')
  w.finish()
  const idx = readIndex(path)
  t.equal(idx.count, n)
  t.equal(idx.locs[2 * (n - 1) + 1], n - 1, 'the last entry read back')
  t.end()
})

t.test('the index file is created only in a private directory; an abort leaves nothing and touches nothing; never linked over a file made meanwhile', t => {
  const dir = tmp(t)
  const open = join(dir, 'open')
  mkdirSync(open)
  chmodSync(open, 0o777)
  t.throws(() => IndexWriter.create(join(open, 'x.idx')), /index .*open\/x.idx: .*writable by every user/)
  t.notOk(existsSync(join(open, 'x.idx')), 'nothing created there')
  const path = join(dir, 'x.idx')
  const w = IndexWriter.create(path)
  w.abort()
  t.same(readdirSync(dir), ['open'], 'an aborted index leaves nothing behind')
  const v = IndexWriter.create(path)
  writeFileSync(path, 'another file')
  v.abort()
  t.equal(readFileSync(path, 'utf8'), 'another file', 'a file someone put at the path meanwhile is left alone')
  rmSync(path)
  const u = IndexWriter.create(path)
  writeFileSync(path, 'another file')
  t.throws(() => u.finish(), /index .*x.idx: it exists \(an index is never overwritten\)/, 'finish refuses to replace it')
  t.equal(readFileSync(path, 'utf8'), 'another file', 'and it is unchanged')
  t.end()
})

/**
 * Reads `path` as img-buffer does, with a placer that counts the image bytes the reader asks
 * for (img-buffer's store allocates them); returns the error and that count.
 */
function readCounting(path: string, base: string, key: Buffer | null): { error: Error | null; placed: number } {
  const fd = openSync(path, 'r')
  let placed = 0
  const r = new DecodingReader([fd], { key, threads: 2, base }, (_name, length) => { placed += length; return null })
  try {
    for (let ev = r.next(); ev.type !== 'end'; ev = r.next()) if (ev.type === 'data') r.payloadInto(Buffer.alloc(ev.size))
    return { error: null, placed }
  } catch (e) {
    return { error: e as Error, placed }
  } finally {
    r.close()
    closeSync(fd)
  }
}

t.test('encrypted: each reference is authenticated on its own; one observed reference repeated 1000 times is refused at the first copy, before a byte is placed for it', t => {
  const key = randomBytes(32)
  const { dir, r1, two } = rounds(t, { ...plain, key })
  const base = baseDir(dir, r1)
  const recs = parseShard(two.shard)
  const at = recs.findIndex(r => r.marker.body.kind === 'chunk_ref')
  const ref = (recs[at]!.marker.body as { kind: 'chunk_ref'; ref: { length: number; tag: Buffer | null } }).ref
  t.ok(ref.tag && ref.tag.length === 16, 'a reference in an encrypted stream carries a 16-byte tag')
  const honest = readCounting(two.shard, base, key)
  t.equal(honest.error, null, 'the stream as written reads')
  const p = join(dir, 'forged')
  const renumber = (r: { marker: Marker; payload: Buffer }, by: number) => ({ ...r, marker: { ...r.marker, seq: r.marker.seq + by } })
  const COPIES = 1000
  const copies = Array.from({ length: COPIES }, (_, i) => renumber(recs[at]!, i + 1))
  writeShard(p, [...recs.slice(0, at + 1), ...copies, ...recs.slice(at + 1).map(r => renumber(r, COPIES))])
  const forged = readCounting(p, base, key)
  t.match(forged.error?.message, new RegExp(`marker ${recs[at]!.marker.seq + 1}\\): authentication failed`), `refused: ${forged.error?.message}`)
  // Before the fix every copy was read from the base and placed: COPIES x its length.
  t.ok(forged.placed < honest.placed, `the reader asked for ${forged.placed} image bytes (the honest stream: ${honest.placed}; ${COPIES} copies would add ${COPIES * ref.length})`)

  const change = (f: (r: { baseOffset: number; tag: Buffer | null }) => void) => {
    const copy = recs.map(r => ({ ...r }))
    const body = copy[at]!.marker.body as { kind: 'chunk_ref'; ref: { baseOffset: number; tag: Buffer | null } }
    const r = { ...body.ref, tag: body.ref.tag && Buffer.from(body.ref.tag) }
    f(r)
    copy[at] = { ...copy[at]!, marker: { ...copy[at]!.marker, body: { kind: 'chunk_ref', ref: r } as Marker['body'] } }
    writeShard(p, copy)
    return readCounting(p, base, key).error?.message ?? 'accepted'
  }
  t.match(change(r => { r.baseOffset += PAGE }), /authentication failed/, 'a reference moved to other base pages (that the base holds) is refused by its tag')
  t.match(change(r => { r.tag![0] = r.tag![0]! ^ 1 }), /authentication failed/, 'a flipped tag is refused')
  t.match(change(r => { r.tag = null }), /the reference has no tag/, 'a reference without its tag is refused')
  t.end()
})

t.test('closing a reader twice (drain closes it on error and again in its finally) closes the base\'s fds once', t => {
  const { dir, r1, two } = rounds(t)
  const base = baseDir(dir, r1)
  const fd = openSync(two.shard, 'r')
  const r = new DecodingReader([fd], { key: null, threads: 2, base })
  for (let ev = r.next(); ev.type !== 'end'; ev = r.next()) if (ev.type === 'data') r.payloadInto(Buffer.alloc(ev.size))
  r.close()
  // The lowest free numbers: those the base's fds had. Before, the second close() closed them
  // again, whoever held them by then (a worker, libuv: img-buffer aborted at exit).
  const mine = [openSync(two.shard, 'r'), openSync(two.shard, 'r'), openSync(two.shard, 'r')]
  r.close()
  for (const m of mine) t.doesNotThrow(() => fstatSync(m), `fd ${m} opened after the first close() is still open`)
  mine.forEach(closeSync)
  closeSync(fd)
  t.end()
})
