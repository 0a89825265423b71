// The content hashes of incremental checkpoints, one definition for every thread of both sides:
//  - a page's hash is its xxh3-128 (REF_HASH_BYTES, little-endian);
//  - a run's hash (CHUNK_REF.hash) is the xxh3-128 of its pages' hashes, concatenated: the
//    sender has the page hashes already (its index needs them), and the receiver checks every
//    page of the run it reads from its base with one comparison.
// Why 128 bits: an accidental collision among n page hashes has probability about n^2 / 2^129,
// 2^-65 for 2^32 pages (16 TiB). A deliberate one is another matter: xxh3 is not a
// cryptographic hash, so a process that crafts two of its own pages to collide can have one
// restored in place of the other. References only ever point into the same process's previous
// checkpoint, so such a process can only corrupt itself (README, "Incremental checkpoints").
import { CONTENT_CHUNK, REF_HASH_BYTES } from './limits.js'
import { xxhash } from '../xxhash.js'

const LOW64 = (1n << 64n) - 1n

/** Writes the xxh3-128 of `data` at `out[off]`, little-endian. */
export function putHash(data: Uint8Array, out: Buffer, off: number): void {
  const h = xxhash().xxh3.xxh128(data)
  out.writeBigUInt64LE(h & LOW64, off)
  out.writeBigUInt64LE(h >> 64n, off + 8)
}

/** The hash of each whole page of `data[0, pages * CONTENT_CHUNK)` into `out`, REF_HASH_BYTES apart. */
export function hashPages(data: Buffer, pages: number, out: Buffer, outOff = 0): void {
  for (let i = 0; i < pages; i++) putHash(data.subarray(i * CONTENT_CHUNK, (i + 1) * CONTENT_CHUNK), out, outOff + i * REF_HASH_BYTES)
}

/** A run's hash from its page hashes (`pageHashes`: n x REF_HASH_BYTES). */
export function runHash(pageHashes: Buffer): Buffer {
  const out = Buffer.alloc(REF_HASH_BYTES)
  putHash(pageHashes, out, 0)
  return out
}

/** CRIU's page data files, the only ones hashed and referenced: pages-N.img. */
export const isPagesFile = (name: string): boolean => /^pages-\d+\.img$/.test(name)
