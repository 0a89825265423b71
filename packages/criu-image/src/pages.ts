import { PAGE_SIZE, PE_PRESENT } from './pagemap-flags.js'
import type { PagemapEntry } from './pagemap.js'

/*
 * Where a pagemap's data lives in pages-<pages_id>.img: the present entries' pages, concatenated
 * in entry order. CRIU's skip_pagemap_pages advances the offset over PE_PRESENT entries only, so
 * PE_PARENT and PE_LAZY-only entries take no room. Shared here so no tool re-implements the walk.
 */

export function pagesFileName(pagesId: number): string {
  return `pages-${pagesId}.img`
}

export function entryBytes(e: PagemapEntry): number {
  return e.nrPages * PAGE_SIZE
}

export function isPresent(e: PagemapEntry): boolean {
  return (e.flags & PE_PRESENT) !== 0
}

/** For each entry, the byte offset of its data in the pages file, or undefined when it has none. */
export function pagesOffsets(entries: readonly PagemapEntry[]): (number | undefined)[] {
  let offset = 0
  return entries.map((e) => {
    if (!isPresent(e)) return undefined
    const at = offset
    offset += entryBytes(e)
    return at
  })
}

/** The exact size the pages file must have for this pagemap. */
export function presentBytes(entries: readonly PagemapEntry[]): number {
  return entries.reduce((sum, e) => (isPresent(e) ? sum + entryBytes(e) : sum), 0)
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
