// THE decode window: an extended stream's chunks kept as they arrived (stored, still compressed
// or encrypted) and decoded on the worker pool just ahead of whoever reads the file, not all up
// front (a 1 GiB image decoded before CRIU was served held 1.1 GiB). Each open file is a
// WindowStream over its stored chunks in order; the window submits their next chunks to the pool
// while slots are free, and a stream hands out a chunk's decoded bytes only once its worker has
// verified them (checksum, GCM tag, reference hash: the job fails before the slot is DONE), so
// nothing unverified is ever handed on. A failure is one FramingError naming the file and offset.
//
// The bound (W): the pool's slots, SLOTS_PER_THREAD per thread, each at most MAX_RAW_CHUNK
// decoded (EXT_CHUNK as written): 8 slots on 2 cores, 2 MiB of a writer's chunks, 8 MiB at the
// format's limit. Enough that every worker has a chunk queued behind the one it decodes while the
// reader empties a slot, and it never grows with the image. Slots are shared fairly among the
// open streams, so one file decoded ahead can never starve another its reader is waiting for
// (CRIU reads pagemap-N.img and pages-N.img in turn).
import { WorkerJobError, type Slot, type WorkerPool } from '@criu-pipes/workers'
import { FramingError } from '../errors.js'
import { getResult, type ChunkJob, type DecodeJob, type RefJob } from './jobs.js'
import { LZ4_SIZE_PREFIX } from './limits.js'
import { preadFull } from '@criu-pipes/sys'
import type { BaseDir } from './base-dir.js'

/** Where a chunk's stored bytes wait: a range of a shard file, or memory (taken once, then `done`). */
export type StoredSource =
  | { kind: 'file'; fd: number; position: number }
  | { kind: 'memory'; bytes: Buffer; done: () => void }
  /** A reference: the worker reads the base itself. */
  | { kind: 'base' }

/** A chunk of a file as it arrived: its decode job (dest null), its place in the file for errors, its stored bytes. */
export interface StoredChunk {
  readonly job: (DecodeJob | RefJob) & { dest: null }
  readonly rawLength: number
  readonly where: string
  readonly source: StoredSource
}

export class WindowStream {
  /** The next chunk to submit; the submitted ones, in order, with their slots. */
  private next = 0
  readonly inFlight: { chunk: StoredChunk; slot: Slot }[] = []
  private closed = false

  /** `consume`: memory sources are let go once copied into a slot (false: a verifying pass, they are read again). */
  constructor(private readonly window: DecodeWindow, private readonly chunks: readonly StoredChunk[], private readonly consume = true) {}

  /** Whether chunks remain to be submitted. */
  get wanting(): boolean { return !this.closed && this.next < this.chunks.length }

  /**
   * The next chunk's decoded and verified bytes (valid until taken()), or null while its worker
   * is still at it. Throws the chunk's FramingError if it failed.
   */
  ready(): Buffer | null {
    this.window.pump()
    const head = this.inFlight[0]
    if (!head) return null
    let done: boolean
    try {
      done = this.window.pool.done(head.slot)
    } catch (e) {
      if (e instanceof WorkerJobError) throw new FramingError(`${head.chunk.where}: ${e.message}`)
      throw e
    }
    return done ? getResult(head.slot).bytes : null
  }

  /** The bytes ready() gave are no longer needed: their slot goes to the next chunk. */
  taken(): void {
    const head = this.inFlight.shift()
    if (!head) throw new Error('internal: nothing decoded to take')
    this.window.pool.release(head.slot)
    this.window.pump()
  }

  /** Stops decoding ahead: slots of jobs still running are freed once they end (close of the window). */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const f of this.inFlight) this.window.abandon(f.slot)
    this.inFlight.length = 0
    this.window.forget(this)
    this.window.pump()
  }

  /** Submits the next chunk in `slot`: its stored bytes copied in, or for a reference none. */
  submitNext(slot: Slot): void {
    const chunk = this.chunks[this.next++]!
    const src = chunk.source
    if (src.kind === 'file') {
      const n = chunk.job.op === 'decode' ? chunk.job.storedLength : 0
      if (preadFull(src.fd, slot.input, src.position, LZ4_SIZE_PREFIX, n) < n) {
        this.window.pool.release(slot)
        throw new FramingError(`${chunk.where}: its shard file got shorter after it was read`)
      }
    } else if (src.kind === 'memory') {
      src.bytes.copy(slot.input, LZ4_SIZE_PREFIX)
      if (this.consume) src.done()
    }
    this.window.pool.submit(slot, chunk.job)
    this.inFlight.push({ chunk, slot })
  }
}

export class DecodeWindow {
  private readonly streams: WindowStream[] = []
  /** Slots of abandoned jobs, released once the job ends (a worker may still write them). */
  private readonly abandoned: Slot[] = []
  private turn = 0

  /** Takes over `pool` (its handler chunk-worker.js, set up for the stream) and the base the references point into. */
  constructor(readonly pool: WorkerPool<ChunkJob>, private base: BaseDir | null) {}

  /** Readable when a chunk has been decoded: poll it with your own fds, then call ready() again. */
  get notifyFd(): number { return this.pool.notifyFd }

  open(chunks: readonly StoredChunk[]): WindowStream {
    const s = new WindowStream(this, chunks)
    this.streams.push(s)
    this.pump()
    return s
  }

  /**
   * Decodes and verifies every chunk, keeping none of it: for a caller that must know the whole
   * image is sound before it lets go of anything (img-migrate's receipt lets the source kill its
   * process). Costs a second decoding, not memory. Throws the first chunk's FramingError.
   */
  verify(chunks: readonly StoredChunk[]): void {
    const s = new WindowStream(this, chunks, false)
    this.streams.push(s)
    try {
      for (let i = 0; i < chunks.length; i++) {
        while (s.ready() === null) this.pool.wait()
        s.taken()
      }
    } finally {
      s.close()
    }
  }

  /** Fills free slots with the next chunks of the open streams, each up to its fair share of the slots. */
  pump(): void {
    this.reap()
    const open = this.streams.filter(s => s.wanting)
    if (open.length === 0) return
    const share = Math.max(1, Math.floor(this.pool.slots.length / this.streams.length))
    for (let idle = 0; idle < open.length && this.pool.available > 0;) {
      const s = open[this.turn++ % open.length]!
      if (!s.wanting || s.inFlight.length >= share) { idle++; continue }
      idle = 0
      s.submitNext(this.pool.acquire()!)
    }
  }

  /** Blocks until some chunk is decoded (for readers that have nothing else to wait for). */
  wait(): void { this.pool.wait() }

  abandon(slot: Slot): void { this.abandoned.push(slot) }
  forget(s: WindowStream): void {
    const i = this.streams.indexOf(s)
    if (i >= 0) this.streams.splice(i, 1)
  }

  /** Stops the workers once the jobs still running have ended, and closes the base. */
  close(): void {
    for (const s of [...this.streams]) s.close()
    for (const slot of this.abandoned) {
      for (;;) {
        try { if (this.pool.done(slot)) break } catch { break }
        this.pool.wait()
      }
    }
    this.pool.close()
    this.base?.close()
    this.base = null
  }

  private reap(): void {
    for (let i = this.abandoned.length - 1; i >= 0; i--) {
      const slot = this.abandoned[i]!
      let ended: boolean
      try { ended = this.pool.done(slot) } catch { ended = true }
      if (ended) { this.pool.release(slot); this.abandoned.splice(i, 1) }
    }
  }
}
