// The read side: a shard stream with or without extensions, as file events. A stream without
// them passes straight through (its payloads still move by splice). An extended one is checked
// marker by marker, and its chunks are opened, decompressed and verified on the worker pool
// while the main thread reads the next ones: the decoded bytes come out in stream order.
// Anything wrong is one FramingError naming the file and the offset in it.
import { WorkerJobError, type Slot, type WorkerPool } from '@criu-pipes/workers'
import type { Region } from '@criu-pipes/sys'
import { FramingError } from '../errors.js'
import { ImageReader, type ImageEvent, type ShardStat } from '../image-reader.js'
import type { Marker } from '../marker.js'
import type { ChunkHeader, ChunkRef, StreamHeader } from './messages.js'
import { BaseDir } from './base-dir.js'
import { isPagesFile } from './refs.js'
import { ALL_CODECS, CODEC_NAMES, ChecksumKind, CipherKind, Codec, EXT_VERSION, LZ4_SIZE_PREFIX, MAX_RAW_CHUNK, CONTENT_CHUNK, MAX_REF_RUN, RefKind, type Codec as CodecT } from './limits.js'
import { deriveSubkey, refAuthentic, trailerAuthentic, Transcript } from './seal.js'
import { getResult, type ChunkJob, type CodecInit, type DecodeJob } from './jobs.js'
import type { ExtReadOptions } from './options.js'
import { ExtCounter, type ExtStats } from './stats.js'
import { DecodeWindow, type StoredChunk } from './decode-window.js'
import { startDecodePool } from './decode-pool.js'

/** 'bytes': a decoded chunk; `placed`: its bytes went where the placer said, `data` is empty. */
export type DecodedEvent = ImageEvent | { type: 'bytes'; name: string; data: Buffer; placed: boolean }

/**
 * Says where a chunk's raw bytes should go: an address of `length` bytes of the caller's memory
 * that stays valid until close() has returned, or null for the slot (delivered as `data`).
 */
export type Placer = (name: string, length: number) => bigint | null

/**
 * Files whose chunks are kept as they arrived, to be decoded later in a DecodeWindow (img-buffer's
 * pages files): the reader checks each chunk's marker (limits, a reference's tag) and hands it
 * over with its stored bytes still pending in the shard, for `take` to move (null: a reference,
 * which has none). Decoding and verifying them is the window's.
 */
export interface LazyFiles {
  wants(name: string): boolean
  keep(name: string, chunk: Omit<StoredChunk, 'source'>, take: ((move: (fd: number, size: number) => number) => void) | null): void
}

const EMPTY = Buffer.alloc(0)

interface Pending {
  placed?: boolean
  ev: DecodedEvent | null
  slot: Slot | null
  where: string
  /** A check that waits its turn: the trailer is judged after every chunk before it. */
  check?: () => void
}

export class DecodingReader {
  private readonly reader: ImageReader
  private header: StreamHeader | null = null
  private pool: WorkerPool<ChunkJob> | null = null
  private subkey: Buffer | null = null
  private first = true
  private readonly transcript = new Transcript()
  private trailerDigest: Buffer | null = null
  private trailerSeen = false
  private readonly queue: Pending[] = []
  private delivered: Slot | null = null
  private inputDone = false
  private readonly offsets = new Map<string, number>()
  private readonly counter = new ExtCounter()
  private base: BaseDir | null = null
  /** opts.pool until the header takes it over, or a plain stream lets it go. */
  private early: WorkerPool<ChunkJob> | null

  constructor(fds: readonly number[], private readonly opts: ExtReadOptions, private readonly place: Placer | null = null, private readonly lazy: LazyFiles | null = null) {
    this.early = opts.pool ?? null
    this.reader = new ImageReader(fds, opts.continues ?? false)
    this.reader.onMarker = m => this.observe(m)
  }

  /** Whether the stream uses extensions (known after the first event). */
  get extended(): boolean { return this.header !== null }
  stats(): ShardStat[] { return this.reader.stats() }
  extStats(): ExtStats | null { return this.header ? { ...this.counter.stats(), stream: this.header.streamId.toString('hex') } : null }

  /** For a status line: image bytes so far, and shard bytes when codecs make them differ (else null). */
  progress(): [number, number | null] {
    const onShards = this.reader.stats().reduce((a, s) => a + s.size, 0)
    return this.header ? [this.counter.raw, onShards] : [onShards, null]
  }

  /**
   * The next event. 'data' (a stream without extensions): take its payload with one of the
   * payload methods. 'bytes' (an extended stream): the decoded chunk, valid until the next call.
   */
  next(): DecodedEvent {
    if (this.delivered) { this.pool!.release(this.delivered); this.delivered = null }
    if (this.first) {
      this.first = false
      const ev = this.read()
      if (!this.header) {
        this.letGoEarly()
        if (this.opts.key) throw new FramingError('a key was given, but the stream is not encrypted')
        if (this.opts.expectStream) throw new FramingError(`stream ${this.opts.expectStream.toString('hex')} was expected, but this stream has no id (a plain stream, written without --compress, --checksum or --encrypt)`)
        if (ev) return ev
      }
    }
    if (!this.header) return this.plain()
    for (;;) {
      const head = this.queue[0]
      if (head && (!head.slot || this.finished(head))) {
        this.queue.shift()
        if (head.check) { head.check(); continue }
        if (!head.slot) return head.ev!
        this.delivered = head.slot
        const name = (head.ev as { name: string }).name
        return { type: 'bytes', name, data: head.placed ? EMPTY : getResult(head.slot).bytes, placed: head.placed ?? false }
      }
      if (!this.inputDone && this.pool!.available > 0) { const ev = this.read(); if (ev) this.queue.push({ ev, slot: null, where: '' }); continue }
      if (!head) throw new Error('internal: nothing to read and nothing pending')
      this.pool!.wait()
    }
  }

  payloadTo(fd: number): void { this.reader.payloadTo(fd) }
  payloadBy(move: (fd: number, size: number) => number): void { this.reader.payloadBy(move) }
  payloadInto(buf: Buffer, offset = 0): void { this.reader.payloadInto(buf, offset) }
  payloadIntoRegion(region: Region, offset: number): void { this.reader.payloadIntoRegion(region, offset) }

  /**
   * Stops the workers, after the jobs still running have ended: a placed chunk is being written
   * into the caller's memory, which must not be unmapped under it.
   */
  close(): void {
    // Once: a second close of the base's fds would close whatever has reused those numbers since
    // (a worker's, libuv's), and the process aborted at exit.
    this.base?.close()
    this.base = null
    this.letGoEarly()
    if (!this.pool) return
    for (const p of this.queue) {
      if (!p.slot) continue
      for (;;) {
        try { if (this.pool.done(p.slot)) break } catch { break }
        this.pool.wait()
      }
    }
    this.pool.close()
    this.pool = null
  }

  /**
   * Once the stream has ended: the pool and the base, handed to a DecodeWindow for the chunks
   * kept by `lazy` (null for a plain stream). close() then leaves them alone.
   */
  window(): DecodeWindow | null {
    if (!this.pool || !this.inputDone) return null
    if (this.delivered) { this.pool.release(this.delivered); this.delivered = null }
    const w = new DecodeWindow(this.pool, this.base)
    this.pool = null
    this.base = null
    return w
  }

  private plain(): ImageEvent {
    const ev = this.reader.nextAny()
    if (ev.type === 'header' || ev.type === 'chunk' || ev.type === 'trailer' || ev.type === 'ref') {
      throw new FramingError(`marker ${ev.seq}: a ${ev.type} in a stream that declared no extensions at its start`)
    }
    return ev
  }

  /** One marker's worth of the extended stream: a chunk goes to a worker (queued), the rest is checked and returned. */
  private read(): DecodedEvent | null {
    const ev = this.reader.nextAny()
    if (this.trailerSeen && ev.type !== 'end') throw new FramingError('a marker after the image trailer')
    switch (ev.type) {
      case 'header':
        if (ev.seq !== 0 || this.header) throw new FramingError(`marker ${ev.seq}: a stream header that is not the first marker`)
        this.start(ev.header)
        return null
      case 'chunk':
        if (!this.header) throw new FramingError(`marker ${ev.seq}: a chunk in a stream that declared no extensions at its start`)
        this.submit(ev.name, ev.chunk, ev.seq, ev.shard)
        return null
      case 'ref':
        if (!this.header || this.header.refs !== RefKind.PAGES) throw new FramingError(`marker ${ev.seq}: a chunk reference in a stream that did not declare them at its start`)
        this.submitRef(ev.name, ev.ref, ev.seq, ev.shard)
        return null
      case 'trailer':
        if (!this.header) throw new FramingError(`marker ${ev.seq}: an image trailer in a stream that declared no extensions at its start`)
        // Judged once every chunk before it is: a damaged chunk is then reported as itself.
        this.trailerSeen = true
        this.queue.push({ ev: null, slot: null, where: '', check: () => this.checkTrailer(ev.trailer.digest, ev.trailer.tag, ev.seq) })
        return null
      case 'data':
        if (this.header) throw new FramingError(`${ev.name}: plain file data (file_data) inside an extended stream`)
        return ev
      case 'end':
        if (this.header && !this.trailerSeen) throw new FramingError('the stream ends without its image trailer: it was cut short or tampered with')
        this.inputDone = true
        return ev
      default:
        return ev
    }
  }

  private observe(m: Marker): void {
    if (m.body.kind === 'image_trailer') this.trailerDigest = this.transcript.digest()
    else if (!this.trailerDigest) this.transcript.add(m)
  }

  private start(h: StreamHeader): void {
    if (h.version !== EXT_VERSION) throw new FramingError(`stream format version ${h.version} is not supported (this reader knows ${EXT_VERSION})`)
    if (h.codecs & ~ALL_CODECS) throw new FramingError(`the stream uses codecs this reader does not know (mask ${h.codecs})`)
    if (h.checksum !== ChecksumKind.NONE && h.checksum !== ChecksumKind.XXH64) throw new FramingError(`unknown checksum kind ${h.checksum}`)
    if (h.cipher !== CipherKind.NONE && h.cipher !== CipherKind.AES_256_GCM) throw new FramingError(`unknown cipher ${h.cipher}`)
    if (h.cipher === CipherKind.AES_256_GCM && !this.opts.key) throw new FramingError('the stream is encrypted: give the key with --decrypt KEYFILE')
    if (h.cipher === CipherKind.NONE && this.opts.key) throw new FramingError('a key was given, but the stream is not encrypted')
    if (h.refs === RefKind.PAGES_XXH3) throw new FramingError('the stream is a delta whose page hash (xxh3-128) can be collided at will: it is no longer accepted (capture both rounds again with this version)')
    if (h.refs !== RefKind.NONE && h.refs !== RefKind.PAGES) throw new FramingError(`unknown reference kind ${h.refs}`)
    // Before the base is opened or a worker started: an older stream under the same key is
    // otherwise as good as the one expected (README, "Keys").
    if (this.opts.expectStream && !this.opts.expectStream.equals(h.streamId)) {
      throw new FramingError(`this is stream ${h.streamId.toString('hex')}, not the expected ${this.opts.expectStream.toString('hex')} (an older or another checkpoint)`)
    }
    if (h.refs === RefKind.PAGES) {
      if (!this.opts.base) throw new FramingError('the stream is a delta against a base checkpoint: give the base directory with --base DIR')
      this.base = new BaseDir(this.opts.base)
    }
    this.header = h
    this.subkey = this.opts.key ? deriveSubkey(this.opts.key, h.streamId) : null
    const init: CodecInit = { streamId: h.streamId, subkey: this.subkey, checksum: h.checksum === ChecksumKind.XXH64 }
    if (this.early?.threads === this.opts.threads) {
      this.pool = this.early
      this.early = null
      this.pool.setInit(init)
    } else {
      this.letGoEarly()
      this.pool = startDecodePool(this.opts.threads, init)
    }
  }

  /** The early pool is not needed (a plain stream, another thread count, an error): its threads stop once loaded, unwaited for. */
  private letGoEarly(): void {
    this.early?.letGo()
    this.early = null
  }

  private submit(name: string, c: ChunkHeader, seq: number, shard: number): void {
    const offset = this.offsets.get(name) ?? 0
    const where = `${name} at offset ${offset} (shard ${shard}, marker ${seq})`
    const why = this.invalid(c)
    if (why) throw new FramingError(`${where}: ${why}`)
    const job: DecodeJob & { dest: null } = {
      op: 'decode', seq, name, codec: c.codec, rawLength: c.rawLength, storedLength: c.storedLength, checksum: c.checksum, tag: c.tag, dest: null,
    }
    if (this.lazy?.wants(name)) {
      try {
        this.lazy.keep(name, { job, rawLength: c.rawLength, where }, move => this.reader.payloadBy(move))
      } catch (e) {
        if (e instanceof FramingError) throw new FramingError(`${where}: ${e.message}`)
        throw e
      }
      this.offsets.set(name, offset + c.rawLength)
      this.counter.add(c.codec, c.rawLength, c.storedLength)
      return
    }
    const slot = this.pool!.acquire()!
    try {
      this.reader.payloadInto(slot.input, LZ4_SIZE_PREFIX)
    } catch (e) {
      this.pool!.release(slot)
      throw new FramingError(`${where}: ${(e as Error).message}`)
    }
    const dest = this.place?.(name, c.rawLength) ?? null
    this.pool!.submit(slot, { ...job, dest })
    this.offsets.set(name, offset + c.rawLength)
    this.counter.add(c.codec, c.rawLength, c.storedLength)
    this.queue.push({ ev: { type: 'bytes', name, data: EMPTY, placed: dest !== null }, slot, where, placed: dest !== null })
  }

  /** A reference: checked here, read from the base and verified on a worker, delivered as bytes in stream order. */
  private submitRef(name: string, r: ChunkRef, seq: number, shard: number): void {
    const offset = this.offsets.get(name) ?? 0
    const where = `${name} at offset ${offset} (shard ${shard}, marker ${seq})`
    const why = !isPagesFile(name) ? 'a chunk reference in a file that is not a pages file'
      : !isPagesFile(r.baseFile) ? `a chunk reference into ${JSON.stringify(r.baseFile)}, which is not a pages file`
      : r.length < CONTENT_CHUNK || r.length > MAX_REF_RUN || r.length % CONTENT_CHUNK ? `reference length ${r.length} is not a whole number of pages up to ${MAX_REF_RUN}`
      : r.baseOffset % CONTENT_CHUNK ? `reference offset ${r.baseOffset} is not on a page boundary`
      : (r.tag !== null) !== (this.subkey !== null) ? (r.tag ? 'a tag in a stream that is not encrypted' : 'the reference has no tag')
      : this.subkey && !refAuthentic(this.subkey, { ...r, streamId: this.header!.streamId, seq, name }, r.tag!)
        ? 'authentication failed (wrong key, or the reference was forged, damaged or moved)'
      : null
    // Checked before the base is read or a byte of the image is reserved for it: in an encrypted
    // stream, a forged reference costs the reader nothing.
    if (why) throw new FramingError(`${where}: ${why}`)
    let fd: number
    try { fd = this.base!.fd(r.baseFile) } catch (e) { throw new FramingError(`${where}: ${(e as Error).message}`) }
    if (this.lazy?.wants(name)) {
      // Read from the base and verified by a worker when the window gets to it, not now.
      this.lazy.keep(name, { job: { op: 'ref', seq, name, fd, baseFile: r.baseFile, offset: r.baseOffset, length: r.length, hash: r.hash, dest: null }, rawLength: r.length, where }, null)
      this.offsets.set(name, offset + r.length)
      this.counter.addRef(r.length)
      return
    }
    const slot = this.pool!.acquire()!
    // Placed like a chunk, in stream order: the placer hands out the file's memory as they come.
    const dest = this.place?.(name, r.length) ?? null
    this.pool!.submit(slot, { op: 'ref', seq, name, fd, baseFile: r.baseFile, offset: r.baseOffset, length: r.length, hash: r.hash, dest })
    this.offsets.set(name, offset + r.length)
    this.counter.addRef(r.length)
    this.queue.push({ ev: { type: 'bytes', name, data: EMPTY, placed: dest !== null }, slot, where, placed: dest !== null })
  }

  /** Every limit of a chunk, checked before a byte of it is read. */
  private invalid(c: ChunkHeader): string | null {
    const h = this.header!
    if (!(c.codec in CODEC_NAMES) || !(h.codecs & (1 << c.codec))) return `codec ${c.codec} is not one the stream header declared`
    if (c.rawLength < 1 || c.rawLength > MAX_RAW_CHUNK) return `raw length ${c.rawLength} is out of range (1..${MAX_RAW_CHUNK})`
    const s = c.storedLength
    const ok = ({
      [Codec.STORED]: s === c.rawLength, [Codec.ZERO]: s === 0,
      [Codec.LZ4]: s >= 1 && s < c.rawLength, [Codec.ZSTD]: s >= 1 && s < c.rawLength,
    } as Record<CodecT, boolean>)[c.codec as CodecT]
    if (!ok) return `stored length ${s} is impossible for a ${CODEC_NAMES[c.codec as CodecT]} chunk of ${c.rawLength} bytes`
    if ((h.cipher === CipherKind.AES_256_GCM) !== (c.tag !== null)) return c.tag ? 'a tag in a stream that is not encrypted' : 'the chunk has no tag'
    if ((h.checksum === ChecksumKind.XXH64) !== (c.checksum !== null)) return c.checksum !== null ? 'a checksum the stream header did not declare' : 'the chunk has no checksum'
    return null
  }

  private finished(p: Pending): boolean {
    try {
      return this.pool!.done(p.slot!)
    } catch (err) {
      if (err instanceof WorkerJobError) throw new FramingError(`${p.where}: ${err.message}`)
      throw err
    }
  }

  private checkTrailer(digest: Buffer, tag: Buffer | null, seq: number): void {
    const bad = (why = 'it does not match the markers before it (a marker was changed, dropped or added)'): never => {
      throw new FramingError(`image trailer (marker ${seq}): ${why}`)
    }
    if (!this.subkey && tag) bad('a tag in a stream that is not encrypted')
    if (this.subkey && !tag) bad('no tag in an encrypted stream')
    if (!this.trailerDigest || !digest.equals(this.trailerDigest)) bad()
    if (this.subkey && !trailerAuthentic(this.subkey, this.header!.streamId, seq, digest, tag!)) bad()
  }
}
