// The read side of N shards: one pending marker per shard, markers handed out strictly in seq
// order. Which shard to read next is chosen by poll(2), so a capture wired straight into this
// reader (live migration) cannot deadlock: the writer may be blocked on a full shard while we
// would otherwise sit in a blocking read of an empty one.
import { POLLIN, poll, readFull } from '@criu-pipes/sys'
import { decodeMarker, type Marker } from './marker.js'
import { FramingError, ShardError } from './errors.js'
import { MAX_MARKER_LEN } from './constants.js'

export interface ShardIn {
  index: number
  fd: number
  /** Bytes read from this shard, framing included. */
  size: number
  /** Milliseconds from the start of reading to this shard's EOF (null while open). */
  durationMs: number | null
  pending: Marker | null
}

export class ShardSet {
  readonly shards: ShardIn[]
  private expected = 0
  private readonly started = performance.now()
  private readonly lenBuf = Buffer.alloc(4)

  /** `continues`: the one shard is a channel that carries more after this image (img-migrate): image_eof ends the read. */
  constructor(fds: readonly number[], private readonly continues = false) {
    if (fds.length === 0) throw new FramingError('no shard to read from')
    if (continues && fds.length !== 1) throw new FramingError('an image inside a channel has exactly one shard')
    this.shards = fds.map((fd, index) => ({ index, fd, size: 0, durationMs: null, pending: null }))
  }

  /** The next marker in seq order and the shard its payload follows on; null once every shard ended. */
  next(): { marker: Marker; shard: ShardIn } | null {
    for (;;) {
      let top: ShardIn | null = null
      for (const s of this.shards) if (s.pending && (!top || s.pending.seq < top.pending!.seq)) top = s
      if (top && top.pending!.seq < this.expected) {
        throw new ShardError(top.index, `marker ${top.pending!.seq} comes again or out of order`)
      }
      if (top && top.pending!.seq === this.expected) {
        const marker = top.pending!
        top.pending = null
        this.expected++
        return { marker, shard: top }
      }
      const idle = this.shards.filter(s => s.durationMs === null && !s.pending)
      if (idle.length === 0) {
        if (!top) return null
        throw new FramingError(`marker ${this.expected} is missing: the shards go on at ${top.pending!.seq} (a shard is missing or damaged)`)
      }
      if (idle.length === 1) { this.readMarker(idle[0]!); continue }
      const revents = poll(idle.map(s => ({ fd: s.fd, events: POLLIN })))
      idle.forEach((s, i) => { if (revents[i]) this.readMarker(s) })
    }
  }

  /** After image_eof: every shard must end with nothing more on it. */
  expectEnd(): void {
    if (this.continues) return
    for (const s of this.shards) {
      if (s.pending) throw new ShardError(s.index, `data after image_eof`)
      while (s.durationMs === null) {
        this.readMarker(s)
        if (s.pending) throw new ShardError(s.index, `data after image_eof`)
      }
    }
  }

  private readMarker(s: ShardIn): void {
    const got = readFull(s.fd, this.lenBuf, 0, 4)
    if (got === 0) { s.durationMs = Math.round(performance.now() - this.started); return }
    if (got < 4) throw new ShardError(s.index, `truncated (the stream ends inside a marker)`)
    const len = this.lenBuf.readUInt32LE(0)
    if (len === 0 || len >= MAX_MARKER_LEN) {
      throw new ShardError(s.index, `marker length ${len} is out of range (1..${MAX_MARKER_LEN - 1}): not a shard stream, or damaged`)
    }
    const body = Buffer.allocUnsafe(len)
    if (readFull(s.fd, body) < len) throw new ShardError(s.index, `truncated (the stream ends inside a marker)`)
    s.size += 4 + len
    let marker: Marker
    try {
      marker = decodeMarker(body)
    } catch (e) {
      throw new ShardError(s.index, `${(e as Error).message}`)
    }
    if (marker.seq < this.expected) throw new ShardError(s.index, `marker ${marker.seq} comes again or out of order`)
    s.pending = marker
  }
}
