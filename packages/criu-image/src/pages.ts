import { ImageError } from './errors.js'
import { PAGE_SIZE, PE_PAYLOAD_ALIGNED, PE_PRESENT } from './pagemap-flags.js'
import type { PagemapEntry } from './pagemap.js'

/*
 * Where a pagemap's data lives in pages-<pages_id>.img: the present entries' pages, concatenated
 * in entry order. CRIU's skip_pagemap_pages advances the offset over PE_PRESENT entries only, so
 * PE_PARENT and PE_LAZY-only entries take no room. Shared here so no tool re-implements the walk.
 * CRIU 4.3 --compress changes the layout: an entry with blocks takes the sum of its block sizes,
 * and one flagged PE_PAYLOAD_ALIGNED starts at the next page boundary (crit's _validate_pagemap).
 */

export function pagesFileName(pagesId: number): string {
  return `pages-${pagesId}.img`
}

/** The bytes of memory the entry covers (from vaddr). */
export function entryBytes(e: PagemapEntry): number {
  return e.nrPages * PAGE_SIZE
}

/** The bytes the entry's data takes in the pages file (present entries), padding not included. */
export function storedBytes(e: PagemapEntry): number {
  return e.blocks === undefined ? entryBytes(e) : e.blocks.totalPayload
}

/** Whether the entry's data is not simply its raw pages at the running offset (CRIU 4.3 --compress). */
export function isCompressed(e: PagemapEntry): boolean {
  return e.blocks !== undefined || (e.flags & PE_PAYLOAD_ALIGNED) !== 0
}

/**
 * For tools that read or serve pages by offset: the one-line refusal of a pagemap written by
 * CRIU 4.3 with --compress (LZ4 blocks), rather than serving its blocks as raw pages.
 */
export function refuseCompressed(file: string, entries: readonly PagemapEntry[], tool: string): void {
  const i = entries.findIndex(isCompressed)
  const e = entries[i]
  if (e === undefined) return
  const how = e.blocks === undefined ? 'page-aligned payload' : `blocks of ${e.blocks.pagesPerBlock} page(s)`
  throw new ImageError(file, `entry ${i + 1} (vaddr 0x${e.vaddr.toString(16)}) holds compressed pages (CRIU --compress, LZ4, ${how}), ` +
    `which ${tool} cannot read; dump without --compress`)
}

const alignUp = (n: number): number => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE

export function isPresent(e: PagemapEntry): boolean {
  return (e.flags & PE_PRESENT) !== 0
}

/** For each entry, the byte offset of its data in the pages file, or undefined when it has none. */
export function pagesOffsets(entries: readonly PagemapEntry[]): (number | undefined)[] {
  let offset = 0
  return entries.map((e) => {
    if (!isPresent(e)) return undefined
    if (e.flags & PE_PAYLOAD_ALIGNED) offset = alignUp(offset)
    const at = offset
    offset += storedBytes(e)
    return at
  })
}

/** The exact size the pages file must have for this pagemap. */
export function presentBytes(entries: readonly PagemapEntry[]): number {
  const offsets = pagesOffsets(entries)
  let end = 0
  entries.forEach((e, i) => { const at = offsets[i]; if (at !== undefined) end = at + storedBytes(e) })
  return end
}

/**
 * Index of the entry whose range holds `addr`, or -1. Binary search: decodePagemap guarantees the
 * entries are sorted and disjoint.
 */
export function findEntryIndex(entries: readonly PagemapEntry[], addr: number): number {
  let lo = 0
  let hi = entries.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const e = entries[mid]
    if (e === undefined) return -1
    if (addr < e.vaddr) hi = mid - 1
    else if (addr >= e.vaddr + entryBytes(e)) lo = mid + 1
    else return mid
  }
  return -1
}
