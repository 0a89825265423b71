// The image held in memory between draining the shards and handing each file to CRIU.
// Page data lives in mmap'd regions outside the JS heap, so a file's memory goes back to the kernel
// the moment it has been handed to CRIU (munmap), not whenever the GC runs: while CRIU restores,
// it holds its own copy, and two copies of a large image must not coexist.
import { Region, readFull, readToPtr } from '@criu-pipes/sys'

// Files up to a page stay in a small Buffer (most image files are tiny: core, ids, fs...).
const SMALL_FILE = 4096
// Regions start small and double, so a 20 KB pagemap does not pin a 8 MiB mapping, while a
// multi-GB pages file is held in 8 MiB regions: one mmap and munmap per 8 MiB.
const FIRST_REGION = 64 * 1024
const MAX_REGION = 8 << 20

export interface Chunk { region: Region | null; small: Buffer | null; length: number }

export class StoredFile {
  readonly chunks: Chunk[] = []
  size = 0
  private small: Buffer | null = null
  private nextRegion = FIRST_REGION

  /** Reads `length` bytes from `fd` into the file; returns how many arrived before EOF. */
  fill(fd: number, length: number): number {
    if (this.chunks.length === 0 && this.size + length <= SMALL_FILE) {
      this.small ??= Buffer.alloc(SMALL_FILE)
      const done = readFull(fd, this.small, this.size, length)
      this.size += done
      return done
    }
    if (this.small) this.promote()
    let done = 0
    while (done < length) {
      let last = this.chunks[this.chunks.length - 1]
      if (!last || last.length === last.region!.length) last = this.newRegion()
      const room = last.region!.length - last.length
      const n = readToPtr(fd, last.region!.ptr + BigInt(last.length), Math.min(room, length - done))
      if (n === 0) break
      last.length += n
      done += n
    }
    this.size += done
    return done
  }

  /** The whole file as one Buffer (for the few small files we patch, like files.img). */
  contents(): Buffer {
    if (this.small) return Buffer.from(this.small.subarray(0, this.size))
    return Buffer.concat(this.chunks.map(c => c.region ? Buffer.from(c.region.buffer(0, c.length)) : c.small!.subarray(0, c.length)))
  }

  /** Replaces the contents (after a patch). */
  replace(data: Buffer): void {
    this.free()
    this.chunks.length = 0
    this.small = null
    this.chunks.push({ region: null, small: data, length: data.length })
    this.size = data.length
  }

  /** Freezes the small buffer into a chunk once the file is complete. */
  seal(): void {
    if (this.small) {
      this.chunks.push({ region: null, small: this.small, length: this.size })
      this.small = null
    }
  }

  free(): void {
    for (const c of this.chunks) c.region?.unmap()
  }

  private promote(): void {
    const data = this.small!.subarray(0, this.size)
    this.small = null
    const c = this.newRegion()
    data.copy(c.region!.buffer(0, data.length))
    c.length = data.length
  }

  private newRegion(): Chunk {
    const region = new Region(this.nextRegion)
    this.nextRegion = Math.min(this.nextRegion * 2, MAX_REGION)
    const chunk = { region, small: null, length: 0 }
    this.chunks.push(chunk)
    return chunk
  }
}

