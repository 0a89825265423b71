// The chunk worker (a handler for @criu-pipes/workers): compresses, checksums and seals a chunk
// on the write side; opens, decompresses and verifies one on the read side. Codecs and hash are
// native libraries, called on whole chunks in the slot's shared buffers:
//   lz4   liblz4 (native-codecs.ts): an LZ4 block, compressed into the slot directly;
//   zstd  libzstd (native-codecs.ts): one zstd frame with its content size, likewise (a reader
//         takes exactly one: the first frame's compressed size is the stored length);
//   XXH64 @node-rs/xxhash.
import { createRequire } from 'node:module'
import type { Slot } from '@criu-pipes/workers'
import { populateRange, view } from '@criu-pipes/sys/for-workers'
import { Codec, LZ4_SIZE_PREFIX, MAX_RAW_CHUNK } from './limits.js'
import { Zstd, lz4Compress, lz4Decompress, zstdFrameCompressedSize, zstdFrameContentSize } from './native-codecs.js'
import { openChunk, sealChunk, type ChunkContext } from './seal.js'
import { putResult, type ChunkJob, type CodecInit, type DecodeJob, type EncodeJob, type RefJob } from './jobs.js'
import { readSync } from 'node:fs'
import { hashPages, runHash } from './refs.js'
import { isZeroChunk } from './zero.js'
import { CONTENT_CHUNK, REF_HASH_BYTES } from './limits.js'

// Native CommonJS modules: required, not imported (ESM sees no named exports in them).
const require = createRequire(import.meta.url)
const { xxh64 } = require('@node-rs/xxhash') as typeof import('@node-rs/xxhash')

// --compress auto's cheap look at a chunk: SAMPLES windows of SAMPLE bytes spread over it are
// compressed at the fastest zstd level; if they shrink by less than INCOMPRESSIBLE, the chunk is
// stored as it is (random or already compressed data costs no CPU then).
const SAMPLES = 4
const SAMPLE = 4096
const SAMPLE_LEVEL = -5
const INCOMPRESSIBLE = 0.9

export function createHandler(init: CodecInit) {
  const zstd = new Zstd()
  const sampleIn = Buffer.alloc(SAMPLES * SAMPLE)
  const sampleOut = Buffer.alloc(2 * SAMPLES * SAMPLE)
  const subkey = init.subkey ? Buffer.from(init.subkey) : null
  const streamId = Buffer.from(init.streamId)
  const sum = (b: Uint8Array): bigint | null => (init.checksum && !subkey ? xxh64(b) : null)

  function compresses(raw: Buffer): boolean {
    if (raw.length <= sampleIn.length) return true
    const step = Math.floor(raw.length / SAMPLES)
    for (let i = 0; i < SAMPLES; i++) raw.copy(sampleIn, i * SAMPLE, i * step, i * step + SAMPLE)
    return zstd.compress(sampleOut, sampleIn, SAMPLE_LEVEL) < INCOMPRESSIBLE * sampleIn.length
  }

  function encode(slot: Slot, job: EncodeJob): void {
    const raw = slot.input.subarray(0, job.rawLength)
    let codec: number = job.codec
    if (job.detect && isZeroChunk(raw)) codec = Codec.ZERO
    else if (job.sample && codec !== Codec.STORED && !compresses(raw)) codec = Codec.STORED
    let stored: Buffer = codec === Codec.ZERO ? raw.subarray(0, 0) : raw
    if (codec === Codec.ZSTD) {
      const n = zstd.compress(slot.output, raw, job.level)
      stored = slot.output.subarray(0, n)
    } else if (codec === Codec.LZ4) {
      // The output holds LZ4's worst case (OUTPUT_BYTES): 0 cannot mean "did not fit".
      const n = lz4Compress(raw, slot.output)
      if (n === 0) throw new Error('internal: lz4 compression failed')
      stored = slot.output.subarray(0, n)
    }
    // A chunk that did not shrink is stored: a compressed chunk is always smaller than its raw bytes.
    if ((codec === Codec.ZSTD || codec === Codec.LZ4) && stored.length >= raw.length) { codec = Codec.STORED; stored = raw }
    const checksum = sum(raw)
    let tag: Buffer | null = null
    if (subkey) {
      const sealed = sealChunk(subkey, context(job, codec, stored.length), stored)
      tag = sealed.tag
      stored = slot.output.subarray(0, sealed.ciphertext.copy(slot.output))
    }
    putResult(slot, { codec, inInput: stored.byteOffset === slot.input.byteOffset, offset: 0, length: stored.length, checksum, tag })
  }

  function context(job: EncodeJob | DecodeJob, codec: number, storedLength: number): ChunkContext {
    return { streamId, seq: job.seq, codec, rawLength: job.rawLength, storedLength, name: job.name }
  }

  function decode(slot: Slot, job: DecodeJob): void {
    // The stored bytes were read LZ4_SIZE_PREFIX bytes into the slot.
    let stored: Buffer = slot.input.subarray(LZ4_SIZE_PREFIX, LZ4_SIZE_PREFIX + job.storedLength)
    if (subkey) stored = openChunk(subkey, context(job, job.codec, job.storedLength), stored, job.tag!)
    // Placed: straight into the caller's memory (fresh mmap'd pages, zero until written).
    const placed = job.dest !== null
    const out = placed ? view(job.dest!, job.rawLength) : slot.output.subarray(0, job.rawLength)
    // The pages allocated in one pass before they are written (see Region.populate); zero
    // chunks leave theirs untouched.
    if (placed && job.codec !== Codec.ZERO) populateRange(job.dest!, job.rawLength)
    let raw: Buffer = out
    switch (job.codec) {
      case Codec.STORED: if (subkey || placed) stored.copy(out); else raw = stored; break
      case Codec.ZERO: if (!placed) out.fill(0); break
      case Codec.ZSTD: {
        // Exactly one frame, the whole of the stored bytes: libzstd would also decode a frame
        // followed by a skippable or an empty one, bytes no writer of this format puts there.
        const frame = zstdFrameCompressedSize(stored)
        if (frame !== job.storedLength) throw new Error(`the chunk's ${job.storedLength} stored bytes are not one zstd frame (its first frame is ${frame === null ? 'damaged' : `${frame} bytes`})`)
        const size = zstdFrameContentSize(stored)
        if (size !== job.rawLength) throw new Error(`zstd frame says ${size ?? 'unknown'} bytes, the chunk ${job.rawLength}`)
        if (zstd.decompress(out, stored) !== job.rawLength) throw new Error('zstd frame decompressed short')
        break
      }
      case Codec.LZ4: {
        // Straight into `out`, which is exactly the chunk's raw length: a block that would
        // decode to more is refused by liblz4 before it writes past it.
        const n = lz4Decompress(stored, out)
        if (n < 0) throw new Error('lz4 block is damaged')
        if (n !== job.rawLength) throw new Error(`lz4 block gave ${n} bytes, the chunk ${job.rawLength}`)
        break
      }
      default: throw new Error(`internal: codec ${job.codec}`)
    }
    if (job.checksum !== null && xxh64(raw) !== job.checksum) throw new Error('checksum mismatch: the chunk is damaged')
    const inInput = raw.byteOffset === slot.input.byteOffset + LZ4_SIZE_PREFIX
    putResult(slot, { codec: job.codec, inInput, offset: inInput ? LZ4_SIZE_PREFIX : 0, length: raw.length, checksum: null, tag: null })
  }

  const pageHashes = Buffer.alloc((MAX_RAW_CHUNK / CONTENT_CHUNK) * REF_HASH_BYTES)

  // A reference is used only if what the base holds there hashes to what the sender hashed.
  function resolve(slot: Slot, job: RefJob): void {
    const into = slot.input.subarray(LZ4_SIZE_PREFIX, LZ4_SIZE_PREFIX + job.length)
    let got = 0
    while (got < job.length) {
      const n = readSync(job.fd, into, got, job.length - got, job.offset + got)
      if (n === 0) break
      got += n
    }
    if (got < job.length) throw new Error(`the base's ${job.baseFile} ends before ${job.offset + job.length} (it has ${job.offset + got} bytes): not the base this delta was made against`)
    const pages = job.length / CONTENT_CHUNK
    hashPages(into, pages, pageHashes)
    if (!runHash(pageHashes.subarray(0, pages * REF_HASH_BYTES)).equals(Buffer.from(job.hash))) {
      throw new Error(`the base's ${job.baseFile} does not hold the referenced content at ${job.offset} (${job.length} bytes): a wrong base, or a damaged page in it`)
    }
    if (job.dest !== null) {
      populateRange(job.dest, job.length)
      into.copy(view(job.dest, job.length))
    }
    putResult(slot, { codec: Codec.STORED, inInput: true, offset: LZ4_SIZE_PREFIX, length: job.length, checksum: null, tag: null })
  }

  return (slot: Slot, job: ChunkJob): void => {
    if (job.op === 'encode') encode(slot, job)
    else if (job.op === 'ref') resolve(slot, job)
    else decode(slot, job)
  }
}
