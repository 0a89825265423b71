// The hybrid's lazy final round, source side: which of the pages read from CRIU's page server the
// destination's base already holds. The base is the content index img-split --index-out wrote for
// the round the destination keeps (framing's content/index-file.ts), looked up through the same
// shared hash table as img-split's hash workers (content/base-table.ts); each page is hashed with
// the page hash of ext/refs.ts, so a page matches exactly when img-split would reference it.
import { PAGE_SIZE } from '@criu-pipes/criu-image'
import { REF_HASH_BYTES, buildTable, hashPages, probe } from '@criu-pipes/framing'
import type { ContentIndex } from '@criu-pipes/framing'

const WORDS = REF_HASH_BYTES / 4

/** Pages `first`..`first + pages` of a read: bytes, or (with `file`) pages `filePage`.. of that base file. */
export interface Piece {
  first: number
  pages: number
  ref?: { file: string; filePage: number }
}

export class PageRefs {
  private readonly words: Int32Array
  private readonly buckets: Int32Array
  private readonly locs: Uint32Array
  private readonly files: string[]
  /** The hashes of the last `split`, REF_HASH_BYTES a page: a PAGE_REF's payload is a slice of it. */
  readonly hashes: Buffer

  /** `maxPages`: the most pages one `split` is given. */
  constructor(index: ContentIndex, maxPages: number) {
    const t = buildTable(index)
    this.words = new Int32Array(t.hashes)
    this.buckets = new Int32Array(t.buckets)
    this.locs = index.locs
    this.files = index.files
    this.hashes = Buffer.alloc(maxPages * REF_HASH_BYTES)
  }

  /**
   * Hashes the `pages` pages of `data` and cuts them into pieces, in order: a run the base holds
   * at consecutive pages of one file is one reference; the pages between go as bytes. Every
   * unchanged page is a reference, however short its run: one costs a marker and 32 bytes a page
   * against 4 KiB, and a pread on the destination, which has the base on its own disk.
   */
  split(data: Buffer, pages: number): Piece[] {
    hashPages(data, pages, this.hashes)
    const key = new Int32Array(this.hashes.buffer, this.hashes.byteOffset, pages * WORDS)
    const out: Piece[] = []
    let last: Piece | undefined
    for (let i = 0; i < pages; i++) {
      const e = probe(this.words, this.buckets, key, i * WORDS)
      const file = e < 0 ? undefined : this.files[this.locs[2 * e]!]!
      const filePage = e < 0 ? 0 : this.locs[2 * e + 1]!
      const continues = last !== undefined && (file === undefined
        ? last.ref === undefined
        : last.ref?.file === file && last.ref.filePage + last.pages === filePage)
      if (continues) last!.pages++
      else out.push(last = { first: i, pages: 1, ...(file !== undefined && { ref: { file, filePage } }) })
    }
    return out
  }

  static bytesOf(p: Piece): number {
    return p.pages * (p.ref === undefined ? PAGE_SIZE : REF_HASH_BYTES)
  }
}
