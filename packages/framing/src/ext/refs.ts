// The content hashes of incremental checkpoints, one definition for every thread of both sides:
//  - a page's hash is its SHA-256 (REF_HASH_BYTES);
//  - a run's hash (CHUNK_REF.hash) is the SHA-256 of its pages' hashes, concatenated: the
//    sender has the page hashes already (its index needs them), and the receiver checks every
//    page of the run it reads from its base with one comparison.
// Why a cryptographic hash: a page whose hash equals a base page's is restored AS that base page.
// With a hash that can be collided (xxh3-128 was: two pages with equal multiply terms and 2^32
// moved between two words), a process that can make another hold page Y has its own page X
// restored in Y's place, encrypted stream or not. Nobody can find two pages with one SHA-256.
import { sha256Into } from '@criu-pipes/sys/for-workers'
import { CONTENT_CHUNK, REF_HASH_BYTES } from './limits.js'
import { isZeroChunk, zeroBytes } from './zero.js'

// A zero page's hash is a constant: comparing a page with zeros (which stops at the first
// non-zero byte) costs a tenth of its SHA-256, and applications' memory holds many zero pages
// (the mixed memhog 13.5 %, like a heap's).
let zeroPageHash: Buffer | null = null

/** The hash of each whole page of `data[0, pages * CONTENT_CHUNK)` into `out`, REF_HASH_BYTES apart. */
export function hashPages(data: Buffer, pages: number, out: Buffer, outOff = 0): void {
  if (!zeroPageHash) sha256Into(zeroBytes(CONTENT_CHUNK), zeroPageHash = Buffer.alloc(REF_HASH_BYTES))
  for (let i = 0; i < pages; i++) {
    const page = data.subarray(i * CONTENT_CHUNK, (i + 1) * CONTENT_CHUNK)
    const at = outOff + i * REF_HASH_BYTES
    // the first word in JS first: most pages that are not zero say so there, without a native call
    if (data.readUInt32LE(i * CONTENT_CHUNK) === 0 && isZeroChunk(page)) zeroPageHash.copy(out, at)
    else sha256Into(page, out.subarray(at, at + REF_HASH_BYTES))
  }
}

/** A run's hash from its page hashes (`pageHashes`: n x REF_HASH_BYTES). */
export function runHash(pageHashes: Buffer): Buffer {
  const out = Buffer.alloc(REF_HASH_BYTES)
  sha256Into(pageHashes, out)
  return out
}

/** CRIU's page data files, the only ones hashed and referenced: pages-N.img. */
export const isPagesFile = (name: string): boolean => /^pages-\d+\.img$/.test(name)
