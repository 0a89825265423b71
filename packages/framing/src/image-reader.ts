// File-level view of a shard stream: which file is open, where its bytes are, when it ends.
// All the validation of the stream's structure lives here, so extract, merge and serve agree on
// what a good stream is and refuse a damaged one the same way.
import { Region, checkSpan, copyExact, readFull, readToPtr } from '@criu-pipes/sys'
import { ShardSet, type ShardIn } from './shard-set.js'
import { FramingError, ShardError } from './errors.js'
import { checkFileName } from './names.js'
import type { Marker } from './marker.js'
import type { StreamHeader, ChunkHeader, ImageTrailer, ChunkRef } from './ext/messages.js'

export type ImageEvent =
  | { type: 'open'; name: string }
  | { type: 'data'; name: string; size: number }
  | { type: 'close'; name: string }
  | { type: 'end' }

/**
 * The stream extensions' markers (ext/), interpreted by ext/decoding-reader.ts. A chunk's
 * stored bytes are its payload, taken like file data.
 */
export type ExtEvent =
  | { type: 'header'; header: StreamHeader; seq: number }
  | { type: 'chunk'; name: string; chunk: ChunkHeader; seq: number; shard: number }
  | { type: 'trailer'; trailer: ImageTrailer; seq: number }
  | { type: 'ref'; name: string; ref: ChunkRef; seq: number; shard: number }

export interface ShardStat { size: number; transfer_duration_millis: number }

export class ImageReader {
  private readonly set: ShardSet
  private current: string | null = null
  private readonly open = new Set<string>()
  private readonly done = new Set<string>()
  private owed: { shard: ShardIn; size: number } | null = null
  private ended = false
  /** Sees every marker in seq order (the extensions' transcript). */
  onMarker: ((m: Marker) => void) | null = null

  /** `continues`: see ShardSet (an image inside img-migrate's channel, read up to its image_eof only). */
  constructor(fds: readonly number[], continues = false) {
    this.set = new ShardSet(fds, continues)
  }

  /** Per-shard statistics in the order the fds were given (criu-image-streamer's stats JSON). */
  stats(): ShardStat[] {
    return this.set.shards.map(s => ({ size: s.size, transfer_duration_millis: s.durationMs ?? 0 }))
  }

  /** The next event of a stream without extensions; an extended stream is refused here. */
  next(): ImageEvent {
    const ev = this.nextAny()
    if (ev.type === 'header' || ev.type === 'chunk' || ev.type === 'trailer' || ev.type === 'ref') {
      throw new FramingError(`the stream uses extensions (a ${ev.type} marker, ${ev.seq}): read it with DecodingReader`)
    }
    return ev
  }

  /**
   * The next event, extensions included. After a 'data' or 'chunk' event the caller must take exactly its bytes with one of the
   * payload methods before asking for the next event.
   */
  nextAny(): ImageEvent | ExtEvent {
    if (this.owed) throw new Error(`internal: ${this.owed.size} payload bytes of ${this.current} not consumed`)
    if (this.ended) return { type: 'end' }
    // A loop, not a recursion: a filename marker naming the already open file again yields no
    // event, and a crafted stream can hold millions of them in a row.
    for (;;) {
      const ev = this.step()
      if (ev) return ev
    }
  }

  /** One marker's event, or null for a marker that only switches back to an open file. */
  private step(): ImageEvent | ExtEvent | null {
    const got = this.set.next()
    if (!got) {
      const open = [...this.open]
      throw new FramingError(`truncated stream: every shard ended without image_eof${open.length ? ` (open: ${open.slice(0, 3).join(', ')})` : ''}`)
    }
    const { marker, shard } = got
    this.onMarker?.(marker)
    const body = marker.body
    switch (body.kind) {
      case 'filename': {
        const name = checkFileName(body.name)
        if (this.done.has(name)) throw new FramingError(`${name}: appears twice in the image`)
        this.current = name
        if (this.open.has(name)) return null
        this.open.add(name)
        return { type: 'open', name }
      }
      case 'file_data':
        if (!this.current) throw new ShardError(shard.index, `file data (marker ${marker.seq}) for no open file`)
        this.owed = { shard, size: body.size }
        return { type: 'data', name: this.current, size: body.size }
      case 'file_eof': {
        const name = this.current
        if (!name) throw new ShardError(shard.index, `file_eof (marker ${marker.seq}) for no open file`)
        this.open.delete(name)
        this.done.add(name)
        this.current = null
        return { type: 'close', name }
      }
      case 'chunk':
        if (!this.current) throw new ShardError(shard.index, `chunk (marker ${marker.seq}) for no open file`)
        this.owed = { shard, size: body.chunk.storedLength }
        return { type: 'chunk', name: this.current, chunk: body.chunk, seq: marker.seq, shard: shard.index }
      case 'chunk_ref':
        if (!this.current) throw new ShardError(shard.index, `chunk reference (marker ${marker.seq}) for no open file`)
        return { type: 'ref', name: this.current, ref: body.ref, seq: marker.seq, shard: shard.index }
      case 'stream_header': return { type: 'header', header: body.header, seq: marker.seq }
      case 'image_trailer': return { type: 'trailer', trailer: body.trailer, seq: marker.seq }
      case 'image_eof':
        if (this.open.size) {
          throw new FramingError(`image_eof while ${this.open.size} file(s) are still open: ${[...this.open].slice(0, 3).join(', ')}`)
        }
        // A capture that ended the stream after a dump that wrote nothing (criu-image-streamer
        // does) did not capture anything: nothing downstream may take it for an image.
        if (this.done.size === 0) throw new FramingError('empty image: image_eof before any file (the dump that wrote it failed)')
        this.set.expectEnd()
        this.ended = true
        return { type: 'end' }
    }
  }

  /** Moves the pending payload into `outFd` with splice (read/write copy when neither end is a pipe). */
  payloadTo(outFd: number): void {
    const { shard, size } = this.take()
    this.account(shard, size, copyExact(shard.fd, outFd, size))
  }

  /** Hands the pending payload's fd to `move`, which must take `size` bytes and return how many it got. */
  payloadBy(move: (fd: number, size: number) => number): void {
    const { shard, size } = this.take()
    this.account(shard, size, move(shard.fd, size))
  }

  /** Reads the pending payload into memory. */
  payloadInto(buf: Buffer, offset = 0): void {
    checkSpan('payloadInto', buf.length, offset, this.owedSize())
    const { shard, size } = this.take()
    this.account(shard, size, readFull(shard.fd, buf, offset, size))
  }

  /** Reads the pending payload into mmap'd memory at `region.ptr + offset`. */
  payloadIntoRegion(region: Region, offset: number): void {
    if (!region.mapped) throw new Error('payloadIntoRegion: the region is unmapped')
    checkSpan('payloadIntoRegion', region.length, offset, this.owedSize())
    const { shard, size } = this.take()
    let done = 0
    while (done < size) {
      const n = readToPtr(shard.fd, region.ptr + BigInt(offset + done), size - done)
      if (n === 0) break
      done += n
    }
    this.account(shard, size, done)
  }

  private owedSize(): number {
    if (!this.owed) throw new Error('internal: no payload pending')
    return this.owed.size
  }

  private take(): { shard: ShardIn; size: number } {
    const owed = this.owed
    if (!owed) throw new Error('internal: no payload pending')
    this.owed = null
    return owed
  }

  private account(shard: ShardIn, size: number, got: number): void {
    shard.size += got
    if (got < size) throw new ShardError(shard.index, `truncated (the stream ends ${size - got} bytes into a ${size}-byte payload of ${this.current})`)
  }
}

