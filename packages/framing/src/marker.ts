// The shard marker of criu-image-streamer (proto3 `image.marker`), encoded by hand, byte for byte:
//   message marker { uint64 seq = 1; oneof body { string filename = 2; uint32 file_data = 3;
//                                                 bool file_eof = 4; bool image_eof = 5; } }
// proto3 omits seq when it is 0; oneof members are always written, even when 0/false. Decoding
// is stricter than protobuf's: a marker gives seq at most once and exactly one body (protobuf
// would let the last one win), and a file name is UTF-8.
// Field numbers above 5 are reserved for our opt-in extensions (compressed data, checksums): a
// reader that does not know a field refuses the stream rather than misread it.
import { FramingError } from './errors.js'
import { MAX_MARKER_LEN } from './constants.js'
import { Field } from './extensions.js'
import {
  encodeStreamHeader, decodeStreamHeader, encodeChunk, decodeChunk, encodeTrailer, decodeTrailer, encodeChunkRef, decodeChunkRef,
  type StreamHeader, type ChunkHeader, type ImageTrailer, type ChunkRef,
} from './ext/messages.js'
import { WT_LEN, WT_VARINT, getUtf8, getVarint, putVarint, varintLength } from './wire.js'

export type MarkerBody =
  | { kind: 'filename'; name: string }
  | { kind: 'file_data'; size: number }
  | { kind: 'file_eof' }
  | { kind: 'image_eof' }
  // opt-in stream extensions (ext/messages.ts)
  | { kind: 'stream_header'; header: StreamHeader }
  | { kind: 'chunk'; chunk: ChunkHeader }
  | { kind: 'image_trailer'; trailer: ImageTrailer }
  | { kind: 'chunk_ref'; ref: ChunkRef }

export interface Marker { seq: number; body: MarkerBody }

const F_SEQ = 1, F_FILENAME = 2, F_FILE_DATA = 3, F_FILE_EOF = 4, F_IMAGE_EOF = 5
const MAX_U32 = 0xffffffff

/** Encodes a marker with its u32 LE length prefix, ready to write to a shard. */
export function encodeMarker(m: Marker): Buffer {
  const ext = extBody(m.body)
  const name = m.body.kind === 'filename' ? Buffer.from(m.body.name) : ext?.bytes ?? null
  const value = m.body.kind === 'file_data' ? m.body.size : 1
  let len = m.seq === 0 ? 0 : 1 + varintLength(m.seq)
  len += name ? 1 + varintLength(name.length) + name.length : 1 + varintLength(value)
  if (len >= MAX_MARKER_LEN) throw new FramingError(`marker too long (${len} bytes, limit ${MAX_MARKER_LEN})`)
  const buf = Buffer.allocUnsafe(4 + len)
  buf.writeUInt32LE(len, 0)
  let off = 4
  if (m.seq !== 0) { buf[off++] = (F_SEQ << 3) | WT_VARINT; off = putVarint(buf, off, m.seq) }
  switch (m.body.kind) {
    case 'filename':
      buf[off++] = (F_FILENAME << 3) | WT_LEN
      off = putVarint(buf, off, name!.length)
      off += name!.copy(buf, off)
      break
    case 'file_data': buf[off++] = (F_FILE_DATA << 3) | WT_VARINT; off = putVarint(buf, off, value); break
    case 'file_eof': buf[off++] = (F_FILE_EOF << 3) | WT_VARINT; off = putVarint(buf, off, 1); break
    case 'image_eof': buf[off++] = (F_IMAGE_EOF << 3) | WT_VARINT; off = putVarint(buf, off, 1); break
    default:
      buf[off++] = (ext!.field << 3) | WT_LEN
      off = putVarint(buf, off, name!.length)
      off += name!.copy(buf, off)
  }
  return buf
}

/** An extension body as its field number and message bytes; null for criu-image-streamer's own kinds. */
function extBody(b: MarkerBody): { field: number; bytes: Buffer } | null {
  switch (b.kind) {
    case 'stream_header': return { field: Field.STREAM_HEADER, bytes: encodeStreamHeader(b.header) }
    case 'chunk': return { field: Field.CHUNK, bytes: encodeChunk(b.chunk) }
    case 'image_trailer': return { field: Field.IMAGE_TRAILER, bytes: encodeTrailer(b.trailer) }
    case 'chunk_ref': return { field: Field.CHUNK_REF, bytes: encodeChunkRef(b.ref) }
    default: return null
  }
}

function decodeExt(field: number, msg: Buffer): MarkerBody | null {
  switch (field) {
    case Field.STREAM_HEADER: return { kind: 'stream_header', header: decodeStreamHeader(msg) }
    case Field.CHUNK: return { kind: 'chunk', chunk: decodeChunk(msg) }
    case Field.IMAGE_TRAILER: return { kind: 'image_trailer', trailer: decodeTrailer(msg) }
    case Field.CHUNK_REF: return { kind: 'chunk_ref', ref: decodeChunkRef(msg) }
    default: return null
  }
}

/** Decodes a marker body (without the length prefix). Strict: anything not written by a writer of this format is refused. */
export function decodeMarker(buf: Buffer): Marker {
  let seq = 0, seqSeen = false
  let body: MarkerBody | null = null
  const set = (b: MarkerBody): void => {
    if (body) throw new FramingError(`malformed marker: seq ${seq} has two bodies`)
    body = b
  }
  const pos = { off: 0 }
  while (pos.off < buf.length) {
    const key = getVarint(buf, pos)
    const field = Math.floor(key / 8), wire = key & 7
    if (wire === WT_LEN) {
      const len = getVarint(buf, pos)
      if (pos.off + len > buf.length) throw new FramingError(`malformed marker: field ${field} runs past the end`)
      const bytes = buf.subarray(pos.off, pos.off + len)
      const b = field === F_FILENAME ? { kind: 'filename' as const, name: getUtf8(bytes, 'a file name') } : decodeExt(field, bytes)
      if (!b) throw new FramingError(`unknown marker field ${field} (wire type ${wire})`)
      set(b)
      pos.off += len
      continue
    }
    if (wire !== WT_VARINT) throw new FramingError(`unknown marker field ${field} (wire type ${wire})`)
    const v = getVarint(buf, pos)
    switch (field) {
      case F_SEQ:
        if (seqSeen) throw new FramingError(`malformed marker: seq given twice (${seq}, ${v})`)
        seq = v
        seqSeen = true
        break
      case F_FILE_DATA:
        if (v > MAX_U32) throw new FramingError(`malformed marker: file_data ${v} exceeds uint32`)
        set({ kind: 'file_data', size: v })
        break
      case F_FILE_EOF:
      case F_IMAGE_EOF:
        if (v !== 1) throw new FramingError(`malformed marker: ${field === F_FILE_EOF ? 'file_eof' : 'image_eof'} is not true`)
        set({ kind: field === F_FILE_EOF ? 'file_eof' : 'image_eof' })
        break
      default: throw new FramingError(`unknown marker field ${field}`)
    }
  }
  if (!body) throw new FramingError(`malformed marker: seq ${seq} has no body`)
  return { seq, body }
}
