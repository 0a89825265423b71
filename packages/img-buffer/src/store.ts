// The image held between draining the shards and handing each file to CRIU. A file's bytes are
// a list of chunks of three kinds, by where the bytes came from:
//  - bytes: a small Buffer. Most image files are tiny (core, ids, fs...), and a patched file
//    (files.img after --tcp-listen-remap) is one Buffer.
//  - region: copied from a pipe (or socket) shard into mmap'd memory outside the JS heap. It goes
//    back to the kernel the moment CRIU has it (vmsplice gift, then munmap), not whenever the GC
//    runs: while CRIU restores it holds its own copy, and two copies of a large image must not
//    coexist.
//  - file-range: still in a shard file, only located (fd, position, length): spliced from the page
//    cache into CRIU's pipe when asked for, never copied into our memory.
//  - stored: a chunk of an extended stream as it arrived (compressed, sealed, or a reference into
//    the base), decoded in the DecodeWindow as CRIU reads the file. Its stored bytes stay in the
//    shard file, or (from a pipe) in the file's stash: compressed bytes in memory, each region
//    unmapped once every chunk in it has gone to a worker.
import { Region, preadFull, readFull, readToPtr } from '@criu-pipes/sys'
import { FramingError, type StoredChunk } from '@criu-pipes/framing'
import type { FileShard } from './file-shard.js'

export type Chunk =
  | { kind: 'bytes'; data: Buffer; length: number }
  | { kind: 'region'; region: Region; length: number }
  | { kind: 'file-range'; fd: number; position: number; length: number }
  | { kind: 'stored'; stored: StoredChunk; length: number }

/** A region of a file's stash, and how many of the chunks in it have not gone to a worker yet. */
interface StashRegion { region: Region; used: number; pending: number }

// Files up to a page stay in a small Buffer, even from a shard file: one copy of 4 KiB is cheaper
// than a splice of its own.
const SMALL_FILE = 4096
// Regions start small and double, so a 20 KB pagemap does not pin a 8 MiB mapping, while a
// multi-GB pages file is held in 8 MiB regions: one mmap and munmap per 8 MiB.
const FIRST_REGION = 64 * 1024
const MAX_REGION = 8 << 20

export class StoredFile {
  readonly chunks: Chunk[] = []
  size = 0
  /** The first bytes, while the file may still turn out to be small. */
  private small: Buffer | null = null
  private nextRegion = FIRST_REGION
  /** Whether the file's chunks are placed by reserve() (decided by its first chunk), or appended. */
  private placing: boolean | null = null
  /** How much of the last region has its pages allocated. */
  private populated = 0
  /** The stash's regions (the last one being filled). */
  private readonly stash: StashRegion[] = []

  /** Copies `length` bytes from `fd` (a pipe or socket shard); returns how many arrived before EOF. */
  fill(fd: number, length: number): number {
    if (this.staysSmall(length)) return this.fillSmall(fd, length)
    this.seal()
    let done = 0
    while (done < length) {
      const tail = this.chunks[this.chunks.length - 1]
      const last = tail?.kind === 'region' && tail.length < tail.region.length ? tail : this.newRegion()
      const want = Math.min(last.region.length - last.length, length - done)
      // The pages allocated in one pass before the read, not faulted in one by one during it
      // (without this the drain of a pipe shard took half as long again); each page once, though
      // a socket may hand over the payload in many small reads.
      if (last.length + want > this.populated) {
        last.region.populate(this.populated, last.length + want - this.populated)
        this.populated = last.length + want
      }
      const n = readToPtr(fd, last.region.ptr + BigInt(last.length), want)
      if (n === 0) break
      last.length += n
      done += n
    }
    this.size += done
    return done
  }

  /**
   * Room for the next `length` bytes, to be written by someone else (a worker decoding a chunk):
   * their address, or null for a file that started small enough for its Buffer (then append()
   * every chunk of it). The
   * bytes count as the file's at once; the writer must have finished before anyone reads them.
   */
  reserve(length: number): bigint | null {
    // Decided at the first chunk, then kept: a file's bytes must stay in order, and appended
    // bytes arrive later than reserved ones would.
    this.placing ??= !this.staysSmall(length)
    if (!this.placing) return null
    this.seal()
    const tail = this.chunks[this.chunks.length - 1]
    const last = tail?.kind === 'region' && tail.region.length - tail.length >= length ? tail : this.newRegion(length)
    const at = last.region.ptr + BigInt(last.length)
    last.length += length
    this.size += length
    return at
  }

  /** Copies bytes held in memory (a decoded chunk of an extended stream) into the file's regions. */
  append(data: Buffer): void {
    if (this.staysSmall(data.length)) {
      this.small ??= Buffer.alloc(SMALL_FILE)
      this.size += data.copy(this.small, this.size)
      return
    }
    this.seal()
    let done = 0
    while (done < data.length) {
      const tail = this.chunks[this.chunks.length - 1]
      const last = tail?.kind === 'region' && tail.length < tail.region.length ? tail : this.newRegion()
      const n = Math.min(last.region.length - last.length, data.length - done)
      // Pages allocated in one pass, as in fill(), not faulted in one by one by the copy.
      if (last.length + n > this.populated) {
        last.region.populate(this.populated, last.length + n - this.populated)
        this.populated = last.length + n
      }
      data.copy(last.region.buffer(last.length, n), 0, done, done + n)
      last.length += n
      done += n
    }
    this.size += done
  }

  /**
   * Takes `length` bytes from a shard file without copying them: notes where they are and seeks
   * over them. Returns how many the file holds (fewer: truncated).
   */
  locate(shard: FileShard, length: number): number {
    if (this.staysSmall(length)) return this.fillSmall(shard.fd, length)
    this.seal()
    const { position, available } = shard.skip(length)
    if (available > 0) this.chunks.push({ kind: 'file-range', fd: shard.fd, position, length: available })
    this.size += available
    return available
  }

  /**
   * Keeps a chunk of an extended stream undecoded (see DecodingReader's LazyFiles): its stored
   * bytes located in a shard file, or copied from a pipe into the stash; a reference (no
   * `take`) needs neither.
   */
  keep(c: Omit<StoredChunk, 'source'>, take: ((move: (fd: number, size: number) => number) => void) | null, shardOf: (fd: number) => FileShard | undefined): void {
    this.seal()
    let source: StoredChunk['source'] = { kind: 'base' }
    if (take) {
      take((fd, size) => {
        const shard = shardOf(fd)
        if (shard) {
          const { position, available } = shard.skip(size)
          source = { kind: 'file', fd, position }
          return available
        }
        const { done, src } = this.stashFrom(fd, size)
        source = src
        return done
      })
    }
    this.chunks.push({ kind: 'stored', stored: { ...c, source }, length: c.rawLength })
    this.size += c.rawLength
  }

  /** The file's stored chunks, in order, for a DecodeWindow. */
  storedChunks(): StoredChunk[] {
    return this.chunks.flatMap(c => (c.kind === 'stored' ? [c.stored] : []))
  }

  /** The whole file as one Buffer (for the few small files we patch, like files.img). */
  contents(): Buffer {
    this.seal()
    return Buffer.concat(this.chunks.map(c => {
      switch (c.kind) {
        case 'bytes': return c.data.subarray(0, c.length)
        case 'region': return Buffer.from(c.region.buffer(0, c.length))
        case 'file-range': {
          const b = Buffer.alloc(c.length)
          if (preadFull(c.fd, b, c.position) < c.length) throw new FramingError('a shard file got shorter after img-buffer read it')
          return b
        }
        case 'stored': throw new Error('internal: contents() of a file kept for the decode window')
      }
    }))
  }

  /** Replaces the contents (after a patch). */
  replace(data: Buffer): void {
    this.free()
    this.chunks.length = 0
    this.small = null
    this.chunks.push({ kind: 'bytes', data, length: data.length })
    this.size = data.length
  }

  /** Turns the small buffer into a chunk: the file is complete, or has outgrown it. */
  seal(): void {
    if (this.small) {
      this.chunks.push({ kind: 'bytes', data: this.small, length: this.size })
      this.small = null
    }
  }

  /** Unmaps the regions (file ranges belong to the shard file, not to us). Safe to call twice. */
  free(): void {
    for (const c of this.chunks) if (c.kind === 'region') c.region.unmap()
    for (const r of this.stash) r.region.unmap()
  }

  /** Copies a chunk's `size` stored bytes from a pipe into the stash, whole in one region. */
  private stashFrom(fd: number, size: number): { done: number; src: StoredChunk['source'] } {
    let r = this.stash[this.stash.length - 1]
    if (!r || r.region.length - r.used < size) {
      // The region filled so far goes as soon as its chunks have (it may have already).
      if (r && r.pending === 0) r.region.unmap()
      r = { region: new Region(Math.max(MAX_REGION, size)), used: 0, pending: 0 }
      this.stash.push(r)
    }
    const at = r.used
    let done = 0
    while (done < size) {
      const n = readToPtr(fd, r.region.ptr + BigInt(at + done), size - done)
      if (n === 0) break
      done += n
    }
    r.used += done
    r.pending++
    const region = r
    const filling = (): boolean => this.stash[this.stash.length - 1] === region
    return {
      done,
      src: { kind: 'memory', bytes: r.region.buffer(at, done), done: () => { if (--region.pending === 0 && !filling()) region.region.unmap() } },
    }
  }

  private staysSmall(length: number): boolean {
    return this.chunks.length === 0 && this.size + length <= SMALL_FILE
  }

  private fillSmall(fd: number, length: number): number {
    this.small ??= Buffer.alloc(SMALL_FILE)
    const done = readFull(fd, this.small, this.size, length)
    this.size += done
    return done
  }

  private newRegion(atLeast = 0): Chunk & { kind: 'region' } {
    const region = new Region(Math.max(this.nextRegion, atLeast))
    this.nextRegion = Math.min(this.nextRegion * 2, MAX_REGION)
    this.populated = 0
    const chunk = { kind: 'region' as const, region, length: 0 }
    this.chunks.push(chunk)
    return chunk
  }
}
