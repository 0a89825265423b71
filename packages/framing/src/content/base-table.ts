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
