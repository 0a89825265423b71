// The hash worker (a handler for @criu-pipes/workers): hashes each page of a slot and, against a
// base, looks each hash up in the shared base table. Results in the slot's output: the page
// hashes, then one Int32 per page: the base entry holding that content, or -1.
import type { Slot } from '@criu-pipes/workers'
import { loadSha256 } from '@criu-pipes/sys'
import { hashPages } from '../ext/refs.js'
import { REF_HASH_BYTES } from '../ext/limits.js'
import { probe, type SharedTable } from './base-table.js'

export interface HashInit { table: SharedTable | null; maxPages: number }
export interface HashJob { pages: number }

/** Where the per-page base entries start in a slot's output. */
export const hitsOffset = (maxPages: number): number => maxPages * REF_HASH_BYTES

export function createHandler(init: HashInit) {
  // Loaded with the handler, which the pool waits for before CRIU connects: not at the first page.
  loadSha256()
  const t = init.table
  const words = t ? new Int32Array(t.hashes) : null
  const buckets = t ? new Int32Array(t.buckets) : null
  const hits = hitsOffset(init.maxPages)
  return (slot: Slot, job: HashJob): void => {
    hashPages(slot.input, job.pages, slot.output)
    const key = new Int32Array(slot.output.buffer, slot.output.byteOffset, job.pages * REF_HASH_BYTES / 4)
    for (let i = 0; i < job.pages; i++) {
      slot.output.writeInt32LE(words ? probe(words, buckets!, key, i * REF_HASH_BYTES / 4) : -1, hits + 4 * i)
    }
  }
}
