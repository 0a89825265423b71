// The base index as an open-addressing hash table in shared memory, built once on the main thread
// and probed by every hash worker: a page hash is uniformly distributed, so its first 32 bits are
// the bucket. Buckets hold entry + 1 (0: empty); a hash that occurs twice keeps its first entry.
import { REF_HASH_BYTES } from '../ext/limits.js'
import type { ContentIndex } from './index-file.js'

export interface SharedTable {
  hashes: SharedArrayBuffer
  locs: SharedArrayBuffer
  buckets: SharedArrayBuffer
}

const WORDS = REF_HASH_BYTES / 4

export function buildTable(index: ContentIndex): SharedTable {
  let size = 1
  while (size < 2 * index.count) size *= 2
  const buckets = new Int32Array(new SharedArrayBuffer(size * 4))
  const words = new Int32Array(index.hashes.buffer, index.hashes.byteOffset, index.count * WORDS)
  for (let i = 0; i < index.count; i++) {
    if (probe(words, buckets, words, i * WORDS) < 0) buckets[slotFor(words, buckets, i * WORDS)] = i + 1
  }
  return { hashes: index.hashes.buffer as SharedArrayBuffer, locs: index.locs.buffer as SharedArrayBuffer, buckets: buckets.buffer as SharedArrayBuffer }
}

/** The entry whose hash equals `key[at, at + WORDS)`, or -1. */
export function probe(words: Int32Array, buckets: Int32Array, key: Int32Array, at: number): number {
  const mask = buckets.length - 1
  for (let b = key[at]! & mask; ; b = (b + 1) & mask) {
    const e = buckets[b]!
    if (e === 0) return -1
    if (same(words, (e - 1) * WORDS, key, at)) return e - 1
  }
}

function same(words: Int32Array, h: number, key: Int32Array, at: number): boolean {
  for (let i = 0; i < WORDS; i++) if (words[h + i] !== key[at + i]) return false
  return true
}

function slotFor(words: Int32Array, buckets: Int32Array, at: number): number {
  const mask = buckets.length - 1
  let b = words[at]! & mask
  while (buckets[b] !== 0) b = (b + 1) & mask
  return b
}

/**
 * For each file of the base, its page numbers -> the entry holding that page (or -1): where a
 * run of references would continue. The hash table keeps one entry per content, so content the
 * base holds many times (zero pages, 13.5 % of an application's heap) names one place only.
 */
export function buildLocations(index: ContentIndex): Int32Array[] {
  const pages = index.files.map(() => 0)
  for (let i = 0; i < index.count; i++) {
    const f = index.locs[2 * i]!
    pages[f] = Math.max(pages[f]!, index.locs[2 * i + 1]! + 1)
  }
  const at = pages.map(n => new Int32Array(n).fill(-1))
  for (let i = 0; i < index.count; i++) at[index.locs[2 * i]!]![index.locs[2 * i + 1]!] = i
  return at
}
