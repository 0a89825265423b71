// The message bodies of the extension markers (Field.STREAM_HEADER, CHUNK, IMAGE_TRAILER,
// CHUNK_REF), protobuf encoded by hand like the marker itself (README, "The shard format"):
//   message StreamHeader { uint32 version = 1; uint32 codecs = 2; uint32 checksum = 3;
//                          uint32 cipher = 4; bytes stream_id = 5; uint32 refs = 6; }
//   message Chunk { uint32 codec = 1; uint32 raw_length = 2; uint32 stored_length = 3;
//                   optional fixed64 checksum = 4; optional bytes tag = 5; }
//   message ImageTrailer { bytes digest = 1; optional bytes tag = 2; }
//   message ChunkRef { string base_file = 1; uint64 base_offset = 2; uint32 length = 3;
//                      bytes hash = 4; optional bytes tag = 5; }
// StreamHeader.refs is RefKind: a stream that may carry ChunkRef markers says so there, so a
// reader that cannot resolve them (h4's, criu-image-streamer) refuses it at once.
// Zero scalars are omitted as proto3 does; the optional fields (checksum, tag) have explicit
// presence: written whenever the stream has them, a checksum of 0 too. Decoding is strict and
// checks only the structure (known fields, wire types, sizes, each field at most once, strings
// UTF-8); what a marker must look like in its stream is checked by the reader.
import { FramingError } from '../errors.js'
import { WT_I64, WT_LEN, WT_VARINT, getUtf8, getVarint, putVarint, varintLength } from '../wire.js'
import { DIGEST_BYTES, REF_HASH_BYTES, STREAM_ID_BYTES, TAG_BYTES } from './limits.js'

export interface StreamHeader {
  version: number
  /** Bit (1 << codec) for every codec the stream may use. */
  codecs: number
  checksum: number
  cipher: number
  streamId: Buffer
  /** RefKind: whether CHUNK_REF markers may follow (incremental, ext/refs.ts). */
  refs: number
}

export interface ChunkHeader {
  codec: number
  rawLength: number
  storedLength: number
  checksum: bigint | null
  tag: Buffer | null
}

export interface ImageTrailer { digest: Buffer; tag: Buffer | null }

/**
 * The next `length` bytes of the open file are the bytes at `baseOffset` of `baseFile` in the
 * base checkpoint the receiver holds; `hash` (REF_HASH_BYTES) is the run hash of those bytes
 * (ext/refs.ts), which the receiver recomputes from what it reads there before using a byte;
 * `tag`, in an encrypted stream, authenticates the reference itself (ext/seal.ts).
 */
export interface ChunkRef { baseFile: string; baseOffset: number; length: number; hash: Buffer; tag: Buffer | null }

type FieldValue = { kind: 'varint'; v: number } | { kind: 'i64'; v: bigint } | { kind: 'bytes'; v: Buffer }

class PbWriter {
  private readonly parts: Buffer[] = []
  uint(field: number, v: number): this {
    if (v === 0) return this
    const b = Buffer.allocUnsafe(1 + varintLength(field << 3) + varintLength(v))
    const end = putVarint(b, putVarint(b, 0, (field << 3) | WT_VARINT), v)
    this.parts.push(b.subarray(0, end))
    return this
  }
  fixed64(field: number, v: bigint | null): this {
    if (v === null) return this
    const b = Buffer.allocUnsafe(9)
    b[0] = (field << 3) | WT_I64
    b.writeBigUInt64LE(v, 1)
    this.parts.push(b)
    return this
  }
  bytes(field: number, v: Buffer | null): this {
    if (v === null) return this
    const b = Buffer.allocUnsafe(2 + varintLength(v.length))
    const end = putVarint(b, putVarint(b, 0, (field << 3) | WT_LEN), v.length)
    this.parts.push(b.subarray(0, end), v)
    return this
  }
  finish(): Buffer { return Buffer.concat(this.parts) }
}

/** Every field of a message, by number; a field given twice, or of the wrong wire type, is refused. */
function readFields(what: string, buf: Buffer, wire: Record<number, 'varint' | 'i64' | 'bytes'>): Map<number, FieldValue> {
  const out = new Map<number, FieldValue>()
  const pos = { off: 0 }
  while (pos.off < buf.length) {
    const key = getVarint(buf, pos)
    const field = Math.floor(key / 8), wt = key & 7
    const want = wire[field]
    if (!want) throw new FramingError(`malformed ${what}: unknown field ${field}`)
    if (out.has(field)) throw new FramingError(`malformed ${what}: field ${field} given twice`)
    if (want === 'varint' && wt === WT_VARINT) out.set(field, { kind: 'varint', v: getVarint(buf, pos) })
    else if (want === 'i64' && wt === WT_I64) {
      if (pos.off + 8 > buf.length) throw new FramingError(`malformed ${what}: field ${field} runs past the end`)
      out.set(field, { kind: 'i64', v: buf.readBigUInt64LE(pos.off) })
      pos.off += 8
    } else if (want === 'bytes' && wt === WT_LEN) {
      const len = getVarint(buf, pos)
      if (pos.off + len > buf.length) throw new FramingError(`malformed ${what}: field ${field} runs past the end`)
      out.set(field, { kind: 'bytes', v: Buffer.from(buf.subarray(pos.off, pos.off + len)) })
      pos.off += len
    } else throw new FramingError(`malformed ${what}: field ${field} has wire type ${wt}`)
  }
  return out
}

const num = (f: Map<number, FieldValue>, n: number): number => (f.get(n)?.v as number | undefined) ?? 0
const bytesOf = (f: Map<number, FieldValue>, n: number): Buffer | null => (f.get(n)?.v as Buffer | undefined) ?? null
const U32 = 0xffffffff

function exact(what: string, b: Buffer | null, len: number): Buffer {
  if (!b || b.length !== len) throw new FramingError(`malformed ${what}: ${b ? b.length : 'no'} bytes, ${len} expected`)
  return b
}

export function encodeStreamHeader(h: StreamHeader): Buffer {
  return new PbWriter().uint(1, h.version).uint(2, h.codecs).uint(3, h.checksum).uint(4, h.cipher).bytes(5, h.streamId).uint(6, h.refs).finish()
}

export function decodeStreamHeader(buf: Buffer): StreamHeader {
  const f = readFields('stream header', buf, { 1: 'varint', 2: 'varint', 3: 'varint', 4: 'varint', 5: 'bytes', 6: 'varint' })
  return {
    version: num(f, 1), codecs: num(f, 2), checksum: num(f, 3), cipher: num(f, 4), refs: num(f, 6),
    streamId: exact('stream header: stream id', bytesOf(f, 5), STREAM_ID_BYTES),
  }
}

export function encodeChunk(c: ChunkHeader): Buffer {
  return new PbWriter().uint(1, c.codec).uint(2, c.rawLength).uint(3, c.storedLength).fixed64(4, c.checksum).bytes(5, c.tag).finish()
}

export function decodeChunk(buf: Buffer): ChunkHeader {
  const f = readFields('chunk', buf, { 1: 'varint', 2: 'varint', 3: 'varint', 4: 'i64', 5: 'bytes' })
  const c = { codec: num(f, 1), rawLength: num(f, 2), storedLength: num(f, 3) }
  if (c.rawLength > U32 || c.storedLength > U32) throw new FramingError('malformed chunk: a length exceeds uint32')
  const tag = bytesOf(f, 5)
  return { ...c, checksum: (f.get(4)?.v as bigint | undefined) ?? null, tag: tag && exact('chunk: tag', tag, TAG_BYTES) }
}

export function encodeTrailer(t: ImageTrailer): Buffer {
  return new PbWriter().bytes(1, t.digest).bytes(2, t.tag).finish()
}

export function decodeTrailer(buf: Buffer): ImageTrailer {
  const f = readFields('image trailer', buf, { 1: 'bytes', 2: 'bytes' })
  const tag = bytesOf(f, 2)
  return { digest: exact('image trailer: digest', bytesOf(f, 1), DIGEST_BYTES), tag: tag && exact('image trailer: tag', tag, TAG_BYTES) }
}

export function encodeChunkRef(r: ChunkRef): Buffer {
  return new PbWriter().bytes(1, Buffer.from(r.baseFile)).uint(2, r.baseOffset).uint(3, r.length).bytes(4, r.hash).bytes(5, r.tag).finish()
}

export function decodeChunkRef(buf: Buffer): ChunkRef {
  const f = readFields('chunk reference', buf, { 1: 'bytes', 2: 'varint', 3: 'varint', 4: 'bytes', 5: 'bytes' })
  const length = num(f, 3)
  if (length > U32) throw new FramingError('malformed chunk reference: the length exceeds uint32')
  const tag = bytesOf(f, 5)
  return {
    baseFile: getUtf8(bytesOf(f, 1) ?? Buffer.alloc(0), 'a base file name'), baseOffset: num(f, 2), length,
    hash: exact('chunk reference: hash', bytesOf(f, 4), REF_HASH_BYTES), tag: tag && exact('chunk reference: tag', tag, TAG_BYTES),
  }
}
