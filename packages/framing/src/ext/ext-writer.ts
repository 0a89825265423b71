// The write side of the extended stream: chunks go to the worker pool to be compressed,
// checksummed and sealed, and come back out to the shards strictly in the order they went in,
// each marker with the seq it was given when it went in (the nonce and associated data need it
// before the worker runs). The main thread only reads inputs and writes shards; memory is the
// pool's, fixed: (4 x threads + 3) slots x (EXT_CHUNK + OUTPUT_BYTES), about 2 MiB per thread. When the shards are slow, the write of the
// oldest chunk blocks; no slot comes free, so no input is read, and CRIU's pipes fill: the
// back-pressure reaches CRIU as without compression.
import { randomBytes } from 'node:crypto'
import { readFull } from '@criu-pipes/sys'
import { WorkerPool, WorkerJobError, type Slot } from '@criu-pipes/workers'
import { FramingError } from '../errors.js'
import { MARKER_COST } from '../constants.js'
import { checkFileName } from '../names.js'
import type { MarkerBody } from '../marker.js'
import type { ShardWriter } from '../writer.js'
import { ChecksumKind, CipherKind, Codec, EXT_CHUNK, EXT_VERSION, RefKind, STREAM_ID_BYTES } from './limits.js'
import type { ChunkRef } from './messages.js'
import type { ImageSink } from '../sink.js'
import { deriveSubkey, refTag, trailerTag, Transcript } from './seal.js'
import { getResult, putResult, type ChunkJob, type CodecInit, type JobResult } from './jobs.js'
import { isZeroChunk } from './zero.js'
import { xxhash } from '../xxhash.js'
import { codecsOf, type ExtWriteOptions } from './options.js'
import { AdaptiveLevel } from './adaptive.js'
import { ExtCounter, type ExtStats } from './stats.js'

// Chunks in flight per worker thread: one being worked on, one queued behind it so the worker
// never idles between jobs, and two written or waiting to be written to a shard.
export const SLOTS_PER_THREAD = 4
// A slot's output holds any codec's worst case for EXT_CHUNK (zstd: +1/256, lz4: +1/255 +16).
export const OUTPUT_BYTES = EXT_CHUNK + EXT_CHUNK / 128 + 64
// Files whose next chunk may be filling at once (pagemap and pages, and one more).
const MAX_PARTIAL = 3
// auto: shards whose pipes hold less than this share unread have consumers that keep up (adaptive.ts).
const DRAINED_SHARE = 0.25
const CHUNK_WORKER = new URL('./chunk-worker.js', import.meta.url).href

/** `inline`: the writer did the chunk's work itself (storeInline), no worker has it. */
interface Entry { seq: number; name: string; body: MarkerBody | null; slot: Slot | null; rawLength: number; inline?: true }

export class ExtWriter implements ImageSink {
  private readonly pool: WorkerPool<ChunkJob>
  private readonly queue: Entry[] = []
  private readonly transcript = new Transcript()
  private readonly streamId: Buffer
  private readonly subkey: Buffer | null
  private readonly adaptive: AdaptiveLevel | null
  private readonly counter = new ExtCounter()
  private seq = 0
  private current: string | null = null
  private readonly partial = new Map<string, { slot: Slot; length: number }>()
  private workerWaitMs = 0
  private linkWaitMs = 0

  constructor(private readonly out: ShardWriter, private readonly opts: ExtWriteOptions) {
    this.streamId = opts.streamId ?? randomBytes(STREAM_ID_BYTES)
    this.subkey = opts.key ? deriveSubkey(opts.key, this.streamId) : null
    this.adaptive = opts.compress === 'auto' ? new AdaptiveLevel(out.toDisk ? 'disk' : 'link') : null
    const init: CodecInit = { streamId: this.streamId, subkey: this.subkey, checksum: opts.checksum }
    this.pool = new WorkerPool<ChunkJob>({
      handler: CHUNK_WORKER, init, threads: opts.threads, slots: SLOTS_PER_THREAD * opts.threads + MAX_PARTIAL,
      inputBytes: EXT_CHUNK, outputBytes: OUTPUT_BYTES,
    })
    this.enqueue({
      kind: 'stream_header',
      header: {
        version: EXT_VERSION, codecs: codecsOf(opts.compress), streamId: this.streamId,
        checksum: opts.checksum && !opts.key ? ChecksumKind.XXH64 : ChecksumKind.NONE,
        cipher: opts.key ? CipherKind.AES_256_GCM : CipherKind.NONE,
        refs: opts.refs ? RefKind.PAGES : RefKind.NONE,
      },
    }, '')
  }

  /** Blocks until the worker threads have loaded their codecs (before CRIU may connect). */
  waitReady(): void { this.pool.waitReady() }

  /** Bytes of shared memory the pipeline holds, whatever the image size. */
  get memoryBytes(): number { return this.pool.memoryBytes }
  /** Readable when a chunk is ready to be written: the capture loop polls it and calls service(). */
  get pollFd(): number { return this.pool.notifyFd }

  sizes(): number[] { return this.out.sizes() }
  /** Its `stream` is the id a reader can demand (--expect-stream). */
  stats(): ExtStats {
    return { ...this.counter.stats(), stream: this.streamId.toString('hex'), ...(this.adaptive ? { auto: this.adaptive.sink } : {}) }
  }

  /** Takes `length` bytes of `name` from `srcFd` (ready to read: they are not waited for). */
  spliceFrom(name: string, srcFd: number, length: number): void {
    while (length > 0) {
      const p = this.partialFor(name)
      const n = Math.min(length, EXT_CHUNK - p.length)
      const got = readFull(srcFd, p.slot.input, p.length, n)
      p.length += got
      if (got < n) throw new FramingError(`${name}: input ended ${n - got} bytes early`)
      if (p.length === EXT_CHUNK) this.submitPartial(name)
      length -= n
    }
  }

  /** Bytes held in memory (re-encoding a stream, tests). */
  write(name: string, data: Buffer): void {
    for (let off = 0; off < data.length;) {
      const p = this.partialFor(name)
      const n = data.copy(p.slot.input, p.length, off, Math.min(data.length, off + EXT_CHUNK - p.length))
      p.length += n
      off += n
      if (p.length === EXT_CHUNK) this.submitPartial(name)
    }
  }

  open(name: string): void { this.switchTo(name) }

  /** The next bytes of `name` are content the receiver's base holds (incremental, content/); sealed here when encrypted. */
  ref(name: string, ref: Omit<ChunkRef, 'tag'>): void {
    if (!this.opts.refs) throw new Error('internal: a reference in a stream that did not declare them')
    this.submitPartial(name)
    this.switchTo(name)
    const tag = this.subkey ? refTag(this.subkey, { ...ref, streamId: this.streamId, seq: this.seq, name }) : null
    this.enqueue({ kind: 'chunk_ref', ref: { ...ref, tag } }, name)
    this.counter.addRef(ref.length)
  }

  /** Ends a file and writes out everything in flight: when the last input ends, nothing is left inside. */
  endFile(name: string): void {
    this.submitPartial(name)
    this.switchTo(name)
    this.enqueue({ kind: 'file_eof' }, name)
    this.current = null
    this.flush(true)
  }

  /** The trailer (authenticating every marker before it), then image_eof. */
  endImage(): void {
    for (const name of [...this.partial.keys()]) this.submitPartial(name)
    this.flush(true)
    const digest = this.transcript.digest()
    const tag = this.subkey ? trailerTag(this.subkey, this.streamId, this.seq, digest) : null
    this.enqueue({ kind: 'image_trailer', trailer: { digest, tag } }, '')
    this.flush(true)
    this.out.endImage()
    this.seq++
  }

  /** Writes what the workers have finished, without waiting. */
  service(): void {
    this.pool.drainNotify()
    this.flush(false)
  }

  close(): void { this.pool.close() }

  private switchTo(name: string): void {
    if (this.current === name) return
    this.enqueue({ kind: 'filename', name: checkFileName(name) }, name)
    this.current = name
  }

  private enqueue(body: MarkerBody, name: string): void {
    this.queue.push({ seq: this.seq++, name, body, slot: null, rawLength: 0 })
  }

  /**
   * The slot filling up with `name`'s next chunk. Inputs arrive in whatever bursts the pipes
   * give (often far less than a chunk); collecting them into whole chunks keeps the ratio, the
   * zero detection and the per-marker costs those of full chunks. A few files fill at once (CRIU
   * writes pagemap and pages interleaved); beyond MAX_PARTIAL the oldest goes as it is.
   */
  private partialFor(name: string): { slot: Slot; length: number } {
    const p = this.partial.get(name)
    if (p) return p
    if (this.partial.size >= MAX_PARTIAL) this.submitPartial(this.partial.keys().next().value!)
    const fresh = { slot: this.freeSlot(), length: 0 }
    this.partial.set(name, fresh)
    return fresh
  }

  private submitPartial(name: string): void {
    const p = this.partial.get(name)
    if (!p) return
    this.partial.delete(name)
    if (p.length === 0) { this.pool.release(p.slot); return }
    this.switchTo(name)
    this.submit(name, p.slot, p.length)
  }

  private submit(name: string, slot: Slot, rawLength: number): void {
    const seq = this.seq++
    const codec = this.adaptive ? this.adaptive.codec : this.opts.compress === 'lz4' ? Codec.LZ4 : this.opts.compress === 'zstd' ? Codec.ZSTD : Codec.STORED
    const level = this.adaptive ? this.adaptive.level : this.opts.level
    if (codec === Codec.STORED && this.subkey === null) {
      this.storeInline(slot, rawLength)
      this.queue.push({ seq, name, body: null, slot, rawLength, inline: true })
    } else {
      this.pool.submit(slot, { op: 'encode', seq, name, rawLength, codec, level, detect: this.adaptive !== null, sample: this.adaptive?.sink === 'link' })
      this.queue.push({ seq, name, body: null, slot, rawLength })
    }
    this.flush(false)
  }

  /**
   * A chunk stored as it is, unencrypted, needs no codec: its zero test (auto) and XXH64 (about
   * 20 GB/s) are done here. A round trip to a worker would cost this thread more than the work
   * (a message out, a wake-up, a byte back): over a link faster than the cores compress, auto
   * stores, and this is then its whole path.
   */
  private storeInline(slot: Slot, rawLength: number): void {
    const raw = slot.input.subarray(0, rawLength)
    const zero = this.adaptive !== null && isZeroChunk(raw)
    const checksum = this.opts.checksum ? xxhash().xxh64(raw) : null
    putResult(slot, { codec: zero ? Codec.ZERO : Codec.STORED, inInput: true, offset: 0, length: zero ? 0 : rawLength, checksum, tag: null })
  }

  private freeSlot(): Slot {
    for (;;) {
      const slot = this.pool.acquire()
      if (slot) return slot
      if (this.queue.length === 0) throw new Error('internal: every slot is a partial chunk')
      this.flush(false, true)
    }
  }

  /**
   * Writes queued markers in order while they are ready. `all`: until the queue is empty;
   * `untilSlot`: until a slot is free. Waiting for a worker blocks in poll on the pool.
   */
  private flush(all: boolean, untilSlot = false): void {
    while (this.queue.length) {
      const e = this.queue[0]!
      if (e.slot && !this.finished(e)) {
        if (!all && !(untilSlot && this.pool.available === 0)) return
        const t0 = performance.now()
        this.pool.wait()
        this.workerWaitMs += performance.now() - t0
        continue
      }
      this.queue.shift()
      const result = e.slot ? getResult(e.slot) : null
      const body = e.body ?? this.chunkBody(e, result!)
      const payload = result?.bytes
      // auto: the time this write waits for a consumer (the link) is the link's; a write that
      // need not wait costs its copy only, which is nobody's wait.
      const waits = this.adaptive !== null && payload !== undefined && this.out.full(payload.length + MARKER_COST)
      const t0 = waits ? performance.now() : 0
      const seq = this.out.emit(body, payload)
      if (waits) this.linkWaitMs += performance.now() - t0
      if (seq !== e.seq) throw new Error(`internal: marker written with seq ${seq}, sequenced as ${e.seq}`)
      this.transcript.add({ seq, body })
      if (e.slot) {
        this.pool.release(e.slot)
        this.adaptive?.note(this.linkWaitMs, this.workerWaitMs, this.out.drained(DRAINED_SHARE))
        this.linkWaitMs = this.workerWaitMs = 0
        if (untilSlot && !all) return
      }
    }
  }

  private finished(e: Entry): boolean {
    if (e.inline) return true
    try {
      return this.pool.done(e.slot!)
    } catch (err) {
      if (err instanceof WorkerJobError) throw new FramingError(`${e.name}: chunk ${e.seq}: ${err.message}`)
      throw err
    }
  }

  private chunkBody(e: Entry, r: JobResult): MarkerBody {
    this.counter.add(r.codec, e.rawLength, r.bytes.length)
    return { kind: 'chunk', chunk: { codec: r.codec, rawLength: e.rawLength, storedLength: r.bytes.length, checksum: r.checksum, tag: r.tag } }
  }
}
