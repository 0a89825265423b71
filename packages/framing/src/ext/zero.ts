// The one zero test: auto's ZERO chunks (the writer's chunks it stores itself, the chunk
// workers') and the page hashes' zero pages (refs.ts).
import { MAX_RAW_CHUNK } from './limits.js'

const ZEROS = Buffer.alloc(MAX_RAW_CHUNK)

/** `n` zero bytes (at most MAX_RAW_CHUNK), shared: never written. */
export const zeroBytes = (n: number): Buffer => ZEROS.subarray(0, n)

/** Whether every byte of a chunk or page (at most MAX_RAW_CHUNK) is zero. */
export const isZeroChunk = (raw: Uint8Array): boolean => Buffer.compare(raw, zeroBytes(raw.length)) === 0
