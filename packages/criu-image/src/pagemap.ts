import { ImageError } from './errors.js'
import { encodeImage, parseImage } from './image-file.js'
import { inEntry } from './in-entry.js'
import { PAGEMAP_MAGIC } from './magic.js'
import { MAX_COMPRESS_BLOCK, PAGE_SIZE, PE_PARENT, PE_PAYLOAD_ALIGNED, PE_PRESENT } from './pagemap-flags.js'
import { decodeMessage } from './wire/decode.js'
import { encodeMessage, setField, varintField } from './wire/encode.js'
import { has, optionalBool, optionalMessage, optionalU32, repeatedU32, requiredU32, requiredU64 } from './wire/read.js'

/* images/pagemap.proto field numbers. */
const HEAD_PAGES_ID = 1
const ENTRY_VADDR = 1
/** uint32 nr_pages in 4.1; renamed compat_nr_pages in 4.2, which writes 0 there when it uses field 5. */
const ENTRY_NR_PAGES_32 = 2
const ENTRY_IN_PARENT = 3
const ENTRY_FLAGS = 4
/** uint64 nr_pages, added by CRIU 4.2 ("support huge mappings") and preferred when present. */
const ENTRY_NR_PAGES_64 = 5
/** pagemap_blocks blocks, added by CRIU 4.3 (--compress): the entry's pages are stored as blocks. */
const ENTRY_BLOCKS = 6
/* pagemap_blocks (CRIU 4.3). */
const BLOCKS_SIZES = 1
const BLOCKS_TOTAL = 2
const BLOCKS_PAGES_PER_BLOCK = 3

const U32_MAX = 0xffff_ffff

export interface PagemapEntry {
  vaddr: number
  nrPages: number
  /** PE_* bits, after CRIU's defaults for entries written before flags existed. */
  flags: number
  /** CRIU 4.3 --compress: how the entry's pages are stored in the pages file (absent: raw). */
  blocks?: PagemapBlocks
}

/**
 * CRIU 4.3's compressed storage of one present entry (pagemap_blocks): its pages cut into blocks
 * of pagesPerBlock pages (the last one shorter), each stored in sizes[i] bytes: 0 for a block of
 * zeros (nothing stored), the block's full size for a block stored raw, anything between for an
 * LZ4 block (the raw LZ4 block format, no size prefix). totalPayload is the sum of sizes.
 */
export interface PagemapBlocks {
  sizes: number[]
  totalPayload: number
  pagesPerBlock: number
}

export interface Pagemap {
  pagesId: number
  entries: PagemapEntry[]
}

/** A pagemap plus its messages as read, for tools that rewrite entries without re-encoding them. */
export interface RawPagemap extends Pagemap {
  head: Buffer
  /** messages[i] is the pagemap_entry message entries[i] was decoded from. */
  messages: Buffer[]
}

function hex(n: number): string {
  return `0x${n.toString(16)}`
}

/** init_compat_pagemap_entry: in_parent adds PE_PARENT; otherwise a missing flags means PE_PRESENT. */
function effectiveFlags(flags: number | undefined, inParent: boolean | undefined): number {
  if (inParent === true) return (flags ?? 0) | PE_PARENT
  return flags ?? PE_PRESENT
}

function decodeEntry(message: Buffer): PagemapEntry {
  const msg = decodeMessage(message)
  const vaddr = requiredU64(msg, ENTRY_VADDR, 'pagemap_entry.vaddr')
  const nrPages = has(msg, ENTRY_NR_PAGES_64)
    ? requiredU64(msg, ENTRY_NR_PAGES_64, 'pagemap_entry.nr_pages (field 5)')
    : requiredU32(msg, ENTRY_NR_PAGES_32, 'pagemap_entry.nr_pages')
  const flags = effectiveFlags(
    optionalU32(msg, ENTRY_FLAGS, 'pagemap_entry.flags'),
    optionalBool(msg, ENTRY_IN_PARENT, 'pagemap_entry.in_parent'),
  )
  const b = optionalMessage(msg, ENTRY_BLOCKS, 'pagemap_entry.blocks')
  if (b === undefined) return { vaddr, nrPages, flags }
  const blocks = {
    sizes: repeatedU32(b, BLOCKS_SIZES, 'pagemap_blocks.block_sizes'),
    totalPayload: requiredU64(b, BLOCKS_TOTAL, 'pagemap_blocks.total_payload_size'),
    pagesPerBlock: requiredU32(b, BLOCKS_PAGES_PER_BLOCK, 'pagemap_blocks.pages_per_block'),
  }
  return { vaddr, nrPages, flags, blocks }
}

/** What CRIU 4.3 (and its crit) require of an entry's blocks before any byte is read by them. */
function checkBlocks(e: PagemapEntry, where: string, file: string): void {
  const bad = (what: string): never => { throw new ImageError(file, `${where}: compressed pages (CRIU --compress): ${what}`) }
  if (e.blocks === undefined) {
    if (e.flags & PE_PAYLOAD_ALIGNED && !(e.flags & PE_PRESENT)) bad('PE_PAYLOAD_ALIGNED on an entry without pages')
    return
  }
  const { sizes, totalPayload, pagesPerBlock } = e.blocks
  if (!(e.flags & PE_PRESENT)) bad('block sizes on an entry without pages')
  if (pagesPerBlock < 1 || pagesPerBlock * PAGE_SIZE > MAX_COMPRESS_BLOCK) {
    bad(`pages_per_block ${pagesPerBlock} is not 1..${MAX_COMPRESS_BLOCK / PAGE_SIZE}`)
  }
  const want = Math.ceil(e.nrPages / pagesPerBlock)
  if (sizes.length !== want) bad(`${sizes.length} block sizes for ${e.nrPages} pages in blocks of ${pagesPerBlock}, expected ${want}`)
  let sum = 0
  sizes.forEach((size, i) => {
    const raw = Math.min(pagesPerBlock, e.nrPages - i * pagesPerBlock) * PAGE_SIZE
    if (size > raw) bad(`block ${i} is ${size} bytes, more than its ${raw} bytes of pages`)
    sum += size
  })
  if (sum !== totalPayload) bad(`total_payload_size ${totalPayload} is not the sum of the block sizes (${sum})`)
}

/** The properties CRIU relies on (seek_pagemap, the uffd daemon): aligned, sorted, disjoint. */
function checkLayout(entries: readonly PagemapEntry[], file: string): void {
  let prevEnd = 0
  entries.forEach((e, i) => {
    const where = `entry ${i + 1} (vaddr ${hex(e.vaddr)})`
    if (e.vaddr % PAGE_SIZE !== 0) throw new ImageError(file, `${where}: vaddr is not page-aligned`)
    checkBlocks(e, where, file)
    const end = e.vaddr + e.nrPages * PAGE_SIZE
    if (!Number.isSafeInteger(end)) throw new ImageError(file, `${where}: end of range is above Number.MAX_SAFE_INTEGER`)
    if (e.vaddr < prevEnd) {
      throw new ImageError(file, `${where}: entries are not sorted and disjoint (previous entry ends at ${hex(prevEnd)})`)
    }
    prevEnd = end
  })
}

/** Decodes pagemap-<pid>.img (or pagemap-shmem-<id>.img), keeping each entry's message bytes. */
export function decodePagemapRaw(buf: Buffer, name = 'pagemap.img'): RawPagemap {
  const [head, ...messages] = parseImage(buf, name, PAGEMAP_MAGIC).entries
  if (head === undefined) throw new ImageError(name, 'missing pagemap_head: the file has no entries')
  const pagesId = inEntry(name, 0, 'pagemap_head', () =>
    requiredU32(decodeMessage(head), HEAD_PAGES_ID, 'pagemap_head.pages_id'),
  )
  // Entry numbers count the head as entry 0, as they appear in the file.
  const entries = messages.map((m, i) => inEntry(name, i + 1, 'pagemap_entry', () => decodeEntry(m)))
  checkLayout(entries, name)
  return { pagesId, entries, head, messages }
}

export function decodePagemap(buf: Buffer, name = 'pagemap.img'): Pagemap {
  const { pagesId, entries } = decodePagemapRaw(buf, name)
  return { pagesId, entries }
}

/** Re-frames a head and entry messages (as read by decodePagemapRaw, possibly patched). */
export function encodePagemapRaw(head: Buffer, messages: readonly Buffer[]): Buffer {
  return encodeImage({ magic: PAGEMAP_MAGIC, entries: [head, ...messages] })
}

/**
 * Sets flags (field 4) of one pagemap_entry message; every other field keeps its exact bytes, so
 * a 4.2 entry stays a 4.2 entry. in_parent is not touched: callers change flags, not history.
 */
export function setPagemapEntryFlags(message: Buffer, flags: number): Buffer {
  if (!Number.isInteger(flags) || flags < 0 || flags > U32_MAX) throw new RangeError(`flags ${flags} is not a uint32`)
  return encodeMessage(setField(decodeMessage(message), varintField(ENTRY_FLAGS, flags)))
}

function checkEncodable(pm: Pagemap): void {
  const u32 = (v: number, what: string): void => {
    if (!Number.isInteger(v) || v < 0 || v > U32_MAX) throw new RangeError(`${what} ${v} is not a uint32`)
  }
  u32(pm.pagesId, 'pages_id')
  pm.entries.forEach((e, i) => {
    if (!Number.isSafeInteger(e.vaddr) || e.vaddr < 0) throw new RangeError(`entry ${i}: vaddr ${e.vaddr} is not a safe u64`)
    // Field 2 is a uint32 that CRIU 4.1 requires; a larger count cannot be written for it.
    u32(e.nrPages, `entry ${i}: nr_pages`)
    u32(e.flags, `entry ${i}: flags`)
    if (e.blocks !== undefined) throw new RangeError(`entry ${i}: compressed blocks (CRIU --compress) are not re-encoded here`)
  })
}

/**
 * Writes a pagemap as CRIU 4.1.1 does (vaddr, nr_pages, flags; never in_parent), plus field 5 so
 * that CRIU 4.2, which prefers field 5, reads the same count. CRIU 4.1.1 skips the unknown field:
 * a real 256 MiB dump re-encoded this way restores intact (test/e2e/crit-make-lazy.test.ts).
 */
export function encodePagemap(pm: Pagemap): Buffer {
  checkEncodable(pm)
  const head = encodeMessage([varintField(HEAD_PAGES_ID, pm.pagesId)])
  const messages = pm.entries.map((e) =>
    encodeMessage([
      varintField(ENTRY_VADDR, e.vaddr),
      varintField(ENTRY_NR_PAGES_32, e.nrPages),
      varintField(ENTRY_FLAGS, e.flags),
      varintField(ENTRY_NR_PAGES_64, e.nrPages),
    ]),
  )
  return encodePagemapRaw(head, messages)
}
