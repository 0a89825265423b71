// Writes an image as a shard stream over N shard fds, sending each marker (and the chunk of data
// that follows it) to the shard whose consumer has the most room: a slow consumer gets less.
import {
  SysError, EPERM, EPIPE, POLLOUT, SPLICE_F_MORE, isFifo, isRegularFile, setPipeSize, pipeSize, bytesQueued, copyExact, waitFd, writeAll,
} from '@criu-pipes/sys'
import { encodeMarker, type MarkerBody } from './marker.js'
import { FramingError, ShardError } from './errors.js'
import { MARKER_COST, SHARD_PIPE_SIZE, TAIL_MERGE, chunkFor } from './constants.js'
import { checkFileName } from './names.js'

interface Shard { index: number; fd: number; isPipe: boolean; isFile: boolean; remaining: number; size: number }

export interface ShardWriterOptions {
  /** Capacity asked of each shard pipe; halved until the kernel agrees (fs.pipe-max-size). */
  pipeSize?: number
}

/** Shard pipes get the same capacity, negotiated down from 1 MiB on EPERM. Files never fill. */
function negotiateCapacity(shards: Shard[], want: number): number {
  const pipes = shards.filter(s => s.isPipe)
  if (pipes.length === 0) return want
  for (let size = want; ; size = Math.floor(size / 2)) {
    try {
      for (const s of pipes) setPipeSize(s.fd, size)
      return Math.min(...pipes.map(s => pipeSize(s.fd)))
    } catch (e) {
      if (!(e instanceof SysError && e.errno === EPERM) || size <= 4096) throw e
    }
  }
}

export class ShardWriter {
  readonly capacity: number
  readonly chunk: number
  private readonly shards: Shard[]
  private seq = 0
  private current: string | null = null
  private ended = false

  constructor(fds: readonly number[], opts: ShardWriterOptions = {}) {
    if (fds.length === 0) throw new FramingError('no shard to write to')
    this.shards = fds.map((fd, index) => ({ index, fd, isPipe: isFifo(fd), isFile: isRegularFile(fd), remaining: 0, size: 0 }))
    this.capacity = negotiateCapacity(this.shards, opts.pipeSize ?? SHARD_PIPE_SIZE)
    this.chunk = chunkFor(this.capacity, this.shards.length)
  }

  /** Every shard is a regular file: a local disk, which takes whatever comes (no link to keep up with). */
  get toDisk(): boolean { return this.shards.every(s => s.isFile) }

  /**
   * Whether writing `bytes` now must wait for a consumer: no shard has that much room (a pipe:
   * capacity less what is unread; a socket or other fd: not writable at all; a file always has).
   * An ioctl per shard: cheap enough once a chunk.
   */
  full(bytes: number): boolean {
    return this.shards.every(s => s.isFile ? false
      : s.isPipe ? this.capacity - bytesQueued(s.fd) < bytes
      : (waitFd(s.fd, POLLOUT, 0) & POLLOUT) === 0)
  }

  /** Whether every pipe shard holds less than `share` of its capacity unread (the consumers have caught up); files and sockets tell nothing. */
  drained(share: number): boolean {
    return this.shards.every(s => !s.isPipe || bytesQueued(s.fd) < share * this.capacity)
  }

  /** Bytes written to each shard, framing included, in the order the fds were given. */
  sizes(): number[] { return this.shards.map(s => s.size) }

  /** Moves `length` bytes of `name` from `srcFd` with splice (a copy when neither end is a pipe). */
  spliceFrom(name: string, srcFd: number, length: number): void {
    this.switchTo(name)
    while (length > 0) {
      const shard = this.pickShard(MARKER_COST + Math.min(length, this.chunk))
      const n = this.grow(shard, length)
      this.sendMarker(shard, { kind: 'file_data', size: n })
      const moved = this.guard(shard, () => copyExact(srcFd, shard.fd, n, SPLICE_F_MORE))
      shard.size += moved
      if (moved < n) throw new FramingError(`${name}: input ended ${n - moved} bytes early`)
      length -= n
    }
  }

  /** Writes bytes held in memory (small files, tests, re-framing). */
  write(name: string, data: Buffer): void {
    this.switchTo(name)
    for (let off = 0; off < data.length; off += this.chunk) {
      const n = Math.min(data.length - off, this.chunk)
      const shard = this.writeMarker({ kind: 'file_data', size: n }, n)
      this.guard(shard, () => writeAll(shard.fd, data, off, n))
      shard.size += n
    }
  }

  /**
   * One marker with the next seq, its payload right behind it on the same shard: for the stream
   * extensions (ext/ext-writer.ts), which sequence their own markers. Returns the seq it got.
   */
  emit(body: MarkerBody, payload?: Buffer): number {
    const seq = this.seq
    const shard = this.writeMarker(body, payload?.length ?? 0)
    if (payload?.length) {
      this.guard(shard, () => writeAll(shard.fd, payload))
      shard.size += payload.length
    }
    return seq
  }

  /** Announces a file without data yet (an empty file still exists on the other side). */
  open(name: string): void { this.switchTo(name) }

  endFile(name: string): void {
    this.switchTo(name)
    this.writeMarker({ kind: 'file_eof' }, 0)
    this.current = null
  }

  endImage(): void {
    if (this.ended) throw new FramingError('image_eof written twice')
    this.writeMarker({ kind: 'image_eof' }, 0)
    this.ended = true
  }

  private switchTo(name: string): void {
    if (this.ended) throw new FramingError(`${name}: written after image_eof`)
    if (this.current === name) return
    this.writeMarker({ kind: 'filename', name: checkFileName(name) }, 0)
    this.current = name
  }

  private writeMarker(body: MarkerBody, dataLen: number): Shard {
    const shard = this.pickShard(MARKER_COST + dataLen)
    this.sendMarker(shard, body)
    return shard
  }

  private sendMarker(shard: Shard, body: MarkerBody): void {
    const bytes = encodeMarker({ seq: this.seq++, body })
    this.guard(shard, () => writeAll(shard.fd, bytes))
    shard.size += bytes.length
  }

  /**
   * How much of `length` goes after one marker to `shard`, which pickShard charged a chunk: the
   * chunk, plus whatever more its pipe has room for (while the consumers keep up, a burst from
   * CRIU goes whole, one marker and one splice as with a single shard; a slow shard has no room
   * and gets no more than a chunk), plus a rest of up to TAIL_MERGE that would otherwise cost a
   * marker and a splice of its own.
   */
  private grow(shard: Shard, length: number): number {
    let n = Math.min(length, this.chunk)
    const more = Math.min(length - n, Math.max(shard.remaining, 0))
    n += more
    if (length - n <= TAIL_MERGE) n = length
    shard.remaining -= n - Math.min(length, this.chunk)
    return n
  }

  /**
   * The shard with the most room. When even that one lacks room, every shard's room is measured
   * again (capacity - FIONREAD): refreshing them all, not just the top, is what lets a shard whose
   * consumer caught up unseen get work again. If all are full, the write blocks on the roomiest:
   * that blocking is the back-pressure.
   */
  private pickShard(need: number): Shard {
    if (this.shards.length === 1) return this.shards[0]!
    let best = this.roomiest()
    if (best.remaining < need) {
      for (const s of this.shards) s.remaining = s.isPipe ? this.capacity - bytesQueued(s.fd) : this.capacity
      best = this.roomiest()
    }
    best.remaining -= need
    return best
  }

  private roomiest(): Shard {
    let best = this.shards[0]!
    for (const s of this.shards) {
      if (s.remaining > best.remaining || (s.remaining === best.remaining && s.fd > best.fd)) best = s
    }
    return best
  }

  private guard<T>(shard: Shard, fn: () => T): T {
    try {
      return fn()
    } catch (e) {
      if (e instanceof SysError && e.errno === EPIPE) {
        throw new ShardError(shard.index, 'its reader went away (EPIPE)', `shard ${shard.index} (fd ${shard.fd})`)
      }
      if (e instanceof SysError) throw new ShardError(shard.index, e.message, `shard ${shard.index} (fd ${shard.fd})`)
      throw e
    }
  }
}
