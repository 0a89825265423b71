// auto's zero test, one way for the writer (chunks it stores itself) and the chunk workers.
import { MAX_RAW_CHUNK } from './limits.js'

const ZEROS = Buffer.alloc(MAX_RAW_CHUNK)

/** Whether every byte of a chunk (at most MAX_RAW_CHUNK) is zero: a ZERO chunk, no bytes stored. */
export const isZeroChunk = (raw: Uint8Array): boolean => Buffer.compare(raw, ZEROS.subarray(0, raw.length)) === 0
