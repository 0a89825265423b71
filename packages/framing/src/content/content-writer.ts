// Incremental checkpoints, write side: in front of the shard writer (plain or extended), the
// pages-N.img files are read into the hash pool's slots, each page hashed (and looked up in the
// base index) on a worker, and written on in file order: every page goes into the new index
// (--index-out); with a base (--base-index), a run of pages the base holds at consecutive offsets
// of one file becomes one CHUNK_REF marker instead of its bytes. Every other file passes through.
import { loadSha256, readFull } from '@criu-pipes/sys'
import { WorkerPool, WorkerJobError, type Slot } from '@criu-pipes/workers'
import { FramingError } from '../errors.js'
import type { ShardWriter } from '../writer.js'
import type { ExtWriter } from '../ext/ext-writer.js'
import { CONTENT_CHUNK, MAX_REF_RUN, REF_HASH_BYTES } from '../ext/limits.js'
import { isPagesFile, runHash } from '../ext/refs.js'
import { buildLocations, buildTable } from './base-table.js'
import { hitsOffset, type HashInit, type HashJob } from './hash-worker.js'
import type { ContentIndex, IndexWriter } from './index-file.js'

// Pages per slot: 256 (1 MiB). A job costs the main thread a postMessage and a wake-up (tens
// of us, more on a loaded machine); at 64 pages those were a fifth of img-split's main-thread
// CPU in an incremental round. Slots per thread as ext-writer: a job queued behind each running one.
const SLOT_PAGES = 256
const SLOT_BYTES = SLOT_PAGES * CONTENT_CHUNK
const SLOTS_PER_THREAD = 4
const RUN_PAGES = MAX_REF_RUN / CONTENT_CHUNK
// A run of fewer unchanged pages goes as bytes: a reference costs a marker, and a worker job on
// each side (flushing the writer's partial chunk, reading and verifying the base), about 100 us
// of CPU here, while 4 pages cross a 250 MB/s link in 65 us. Scattered writes (50 % of the pages
// at random) leave mostly short runs: without this floor the delta was slower to send than the
// full image (bench/ precopy); with it, 1 % of pages dirtied at random costs 0.06 % more bytes.
export const MIN_REF_PAGES = 4
const HASH_WORKER = new URL('./hash-worker.js', import.meta.url).href

export interface ContentOptions {
  /** The base's index (--base-index): pages it holds become references. */
  base: ContentIndex | null
  /** Where this checkpoint's index goes (--index-out). */
  index: IndexWriter | null
  threads: number
}

export interface ContentStats { pages: number; refPages: number; refs: number; indexEntries: number }

interface FileState {
  id: number
  /** Bytes of the file hashed so far. */
  offset: number
  /** A partial page, carried to the next burst. */
  carry: Buffer
  carryLength: number
  run: { file: number; page: number; pages: number; hashes: Buffer } | null
  /** The bytes of the run's first pages, until it is long enough to be a reference. */
  held: Buffer
}

interface Pending { slot: Slot; name: string; pages: number; firstPage: number }

type Inner = ShardWriter | ExtWriter

export class ContentWriter {
  private readonly pool: WorkerPool<HashJob>
  private readonly files = new Map<string, FileState>()
  private readonly pending: Pending[] = []
  private readonly stat = { pages: 0, refPages: 0, refs: 0 }
  private finished = false
  /** The base's entries by file and page (base-table.ts), built before CRIU connects. */
  private readonly locations: Int32Array[]

  constructor(private readonly out: Inner, private readonly opts: ContentOptions) {
    if (opts.base && !('ref' in out)) throw new Error('internal: references need the extended stream')
    this.locations = opts.base ? buildLocations(opts.base) : []
    // The main thread hashes each reference's run (runHash): loaded now, not at the first one.
    if (opts.base) loadSha256()
    const init: HashInit = { table: opts.base ? buildTable(opts.base) : null, maxPages: SLOT_PAGES }
    this.pool = new WorkerPool<HashJob>({
      handler: HASH_WORKER, init, threads: opts.threads, slots: SLOTS_PER_THREAD * opts.threads,
      inputBytes: SLOT_BYTES, outputBytes: SLOT_PAGES * (REF_HASH_BYTES + 4),
    })
  }

  sizes(): number[] { return this.out.sizes() }
  /** The counts of the stats JSON (`content`): pages hashed, pages sent as references, references. */
  stats(): ContentStats { return { ...this.stat, indexEntries: this.opts.index?.count ?? 0 } }

  spliceFrom(name: string, srcFd: number, length: number): void {
    if (!isPagesFile(name)) { this.out.spliceFrom(name, srcFd, length); return }
    const f = this.state(name)
    while (length > 0) {
      const slot = this.freeSlot()
      let n = f.carryLength
      f.carry.copy(slot.input, 0, 0, n)
      const take = Math.min(length, SLOT_BYTES - n)
      const got = readFull(srcFd, slot.input, n, take)
      if (got < take) { this.pool.release(slot); throw new FramingError(`${name}: input ended ${take - got} bytes early`) }
      n += take
      length -= take
      const pages = Math.floor(n / CONTENT_CHUNK)
      f.carryLength = n - pages * CONTENT_CHUNK
      slot.input.copy(f.carry, 0, pages * CONTENT_CHUNK, n)
      if (pages === 0) { this.pool.release(slot); continue }
      this.pool.submit(slot, { pages })
      this.pending.push({ slot, name, pages, firstPage: f.offset / CONTENT_CHUNK })
      f.offset += pages * CONTENT_CHUNK
    }
    // The burst stays on the workers while the capture loop reads the next one (CRIU goes on
    // writing meanwhile): results go out in submission order, at service(), when a slot is
    // wanted, and before anything else of the same file (write, endFile).
  }

  /** Readable when a hash job has finished: poll it with the capture's fds, then service(). */
  get pollFd(): number { return this.pool.notifyFd }

  /** Writes on the finished jobs at the head of the queue, without waiting for the others. */
  service(): void {
    this.pool.drainNotify()
    while (this.pending.length && this.done(this.pending[0]!)) this.complete()
  }

  /** Blocks until the hash workers have loaded their handler: before CRIU connects, not while it is frozen. */
  waitReady(): void { this.pool.waitReady() }

  write(name: string, data: Buffer): void { this.flush(name); this.out.write(name, data) }
  open(name: string): void { this.out.open(name) }

  endFile(name: string): void {
    this.flush(name)
    const f = this.files.get(name)
    if (f) {
      this.flushRun(name, f)
      // Only a pages file that does not end on a page boundary leaves bytes here (never CRIU's).
      if (f.carryLength) this.out.write(name, f.carry.subarray(0, f.carryLength))
      this.files.delete(name)
    }
    this.out.endFile(name)
  }

  endImage(): void {
    while (this.pending.length) this.complete()
    this.out.endImage()
  }

  /**
   * Writes the index, once the image is complete AND delivered (the capture's last check): the
   * next round must never take for the receiver's base an image the receiver may not have.
   * Idempotent: img-split commits at the post-dump hook's answer, and again (a no-op) at the end.
   */
  commitIndex(): void {
    if (this.finished) return
    this.opts.index?.finish()
    this.finished = true
  }

  /** Stops the workers; an index of an image that did not end is removed. */
  close(): void {
    if (!this.finished) this.opts.index?.abort()
    this.pool.close()
  }

  private state(name: string): FileState {
    let f = this.files.get(name)
    if (!f) {
      f = { id: this.opts.index?.fileId(name) ?? 0, offset: 0, carry: Buffer.alloc(CONTENT_CHUNK), carryLength: 0, run: null, held: Buffer.alloc(MIN_REF_PAGES * CONTENT_CHUNK) }
      this.files.set(name, f)
    }
    return f
  }

  private freeSlot(): Slot {
    for (;;) {
      const slot = this.pool.acquire()
      if (slot) return slot
      this.complete()
    }
  }

  /** Writes on every job of `name` still on the workers (and those before them), in order. */
  private flush(name: string): void {
    while (this.pending.some(p => p.name === name)) this.complete()
  }

  /** Waits for the oldest job and writes its pages on. */
  private complete(): void {
    const p = this.pending[0]!
    while (!this.done(p)) this.pool.wait()
    this.pending.shift()
    try {
      this.emit(p)
    } finally {
      this.pool.release(p.slot)
    }
  }

  private done(p: Pending): boolean {
    try {
      return this.pool.done(p.slot)
    } catch (e) {
      if (e instanceof WorkerJobError) throw new FramingError(`${p.name}: hashing page ${p.firstPage}: ${e.message}`)
      throw e
    }
  }

  private emit(p: Pending): void {
    const f = this.files.get(p.name)!
    const out = p.slot.output, hits = hitsOffset(SLOT_PAGES)
    const base = this.opts.base
    this.stat.pages += p.pages
    let raw = -1 // first page of a span of raw pages not yet written
    for (let i = 0; i < p.pages; i++) {
      this.opts.index?.add(f.id, p.firstPage + i, out, i * REF_HASH_BYTES)
      let e = base ? out.readInt32LE(hits + 4 * i) : -1
      if (e >= 0) e = this.continuing(f.run, e)
      if (e < 0) {
        if (raw < 0) { this.flushRun(p.name, f); raw = i }
        continue
      }
      if (raw >= 0) { this.out.write(p.name, p.slot.input.subarray(raw * CONTENT_CHUNK, i * CONTENT_CHUNK)); raw = -1 }
      const file = base!.locs[2 * e]!, page = base!.locs[2 * e + 1]!
      const r = f.run
      if (!r || r.file !== file || r.page + r.pages !== page || r.pages === RUN_PAGES) {
        this.flushRun(p.name, f)
        f.run = { file, page, pages: 0, hashes: Buffer.alloc(RUN_PAGES * REF_HASH_BYTES) }
      }
      out.copy(f.run!.hashes, f.run!.pages * REF_HASH_BYTES, i * REF_HASH_BYTES, (i + 1) * REF_HASH_BYTES)
      if (f.run!.pages < MIN_REF_PAGES) p.slot.input.copy(f.held, f.run!.pages * CONTENT_CHUNK, i * CONTENT_CHUNK, (i + 1) * CONTENT_CHUNK)
      f.run!.pages++
    }
    if (raw >= 0) this.out.write(p.name, p.slot.input.subarray(raw * CONTENT_CHUNK, p.pages * CONTENT_CHUNK))
  }

  /**
   * The base entry `e` holds this page's content; if the base also holds it where the current run
   * goes on (a zero page inside a run, say), that entry instead: the run continues.
   */
  private continuing(r: FileState['run'], e: number): number {
    const base = this.opts.base!
    if (!r || (base.locs[2 * e] === r.file && base.locs[2 * e + 1] === r.page + r.pages)) return e
    const next = this.locations[r.file]![r.page + r.pages] ?? -1
    if (next < 0) return e
    const h = base.hashes
    return h.compare(h, e * REF_HASH_BYTES, (e + 1) * REF_HASH_BYTES, next * REF_HASH_BYTES, (next + 1) * REF_HASH_BYTES) === 0 ? next : e
  }

  private flushRun(name: string, f: FileState): void {
    const r = f.run
    if (!r) return
    f.run = null
    const length = r.pages * CONTENT_CHUNK
    if (r.pages < MIN_REF_PAGES) { this.out.write(name, f.held.subarray(0, length)); return }
    ;(this.out as ExtWriter).ref(name, {
      baseFile: this.opts.base!.files[r.file]!, baseOffset: r.page * CONTENT_CHUNK, length,
      hash: runHash(r.hashes.subarray(0, r.pages * REF_HASH_BYTES)),
    })
    this.stat.refs++
    this.stat.refPages += r.pages
  }
}
