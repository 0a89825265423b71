// What the main thread and the chunk workers tell each other: job parameters (postMessage) and
// the result record each job leaves in its slot's meta bytes (no allocation per job).
import type { Slot } from '@criu-pipes/workers'

export interface CodecInit {
  streamId: Uint8Array
  /** The per-stream AES-256-GCM subkey (seal.ts), or null: no encryption. */
  subkey: Uint8Array | null
  /** XXH64 of the raw bytes in each chunk (when not encrypted). */
  checksum: boolean
}

export interface EncodeJob {
  op: 'encode'
  seq: number
  name: string
  rawLength: number
  /** The codec to try (STORED: none), and its level for zstd. */
  codec: number
  level: number
  /** `--compress auto`: all-zero chunks become ZERO. */
  detect: boolean
  /**
   * `--compress auto` over a link: chunks whose sample does not compress are STORED (CPU saved
   * where time counts; to a local disk, where bytes count, every chunk is compressed).
   */
  sample: boolean
}

export interface DecodeJob {
  op: 'decode'
  seq: number
  name: string
  codec: number
  rawLength: number
  storedLength: number
  checksum: bigint | null
  tag: Uint8Array | null
  /** Where the raw bytes go: memory of the main thread's (an mmap'd region), or null: slot.output. */
  dest: bigint | null
}

/** Read side of incremental streams: read a referenced run from the base and check its hash. */
export interface RefJob {
  op: 'ref'
  seq: number
  name: string
  /** The base file, opened by the main thread (fds are the process's, every thread's). */
  fd: number
  baseFile: string
  offset: number
  length: number
  hash: Uint8Array
  /** Where the verified bytes go (DecodingReader's Placer), or null: delivered from the slot. */
  dest: bigint | null
}

export type ChunkJob = EncodeJob | DecodeJob | RefJob

// meta layout
const CODEC = 0, WHERE = 1, OFFSET = 4, LENGTH = 8, HAS_SUM = 12, SUM = 16, HAS_TAG = 13, TAG = 24
const IN_INPUT = 1

export interface JobResult {
  codec: number
  /** Where the result bytes are: the stored bytes (encode) or the raw bytes (decode). */
  bytes: Buffer
  checksum: bigint | null
  tag: Buffer | null
}

export function putResult(slot: Slot, r: { codec: number; inInput: boolean; offset: number; length: number; checksum: bigint | null; tag: Uint8Array | null }): void {
  const m = slot.meta
  m[CODEC] = r.codec
  m[WHERE] = r.inInput ? IN_INPUT : 0
  m.writeUInt32LE(r.offset, OFFSET)
  m.writeUInt32LE(r.length, LENGTH)
  m[HAS_SUM] = r.checksum === null ? 0 : 1
  if (r.checksum !== null) m.writeBigUInt64LE(r.checksum, SUM)
  m[HAS_TAG] = r.tag === null ? 0 : 1
  if (r.tag) m.set(r.tag, TAG)
}

export function getResult(slot: Slot): JobResult {
  const m = slot.meta
  const offset = m.readUInt32LE(OFFSET), length = m.readUInt32LE(LENGTH)
  const from = m[WHERE] === IN_INPUT ? slot.input : slot.output
  return {
    codec: m[CODEC]!,
    bytes: from.subarray(offset, offset + length),
    checksum: m[HAS_SUM] ? m.readBigUInt64LE(SUM) : null,
    tag: m[HAS_TAG] ? Buffer.from(m.subarray(TAG, TAG + 16)) : null,
  }
}
