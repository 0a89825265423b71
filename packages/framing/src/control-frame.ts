// The frames of the control channels (the post-copy page stream, img-migrate's channel): the
// shard format's `[u32 LE length][marker]`, the marker exactly one message-valued field whose
// sub-fields are varints or bytes (proto3: zeros and empty bytes omitted). One encoder and one
// strict decoder for both.
import { FramingError } from './errors.js'
import { WT_LEN, WT_VARINT, getVarint, putVarint, varintLength } from './wire.js'

export const LEN_PREFIX = 4

export type SubField = [number, number | Buffer]

/** One frame: the length prefix, then field `field` holding the sub-fields. */
export function controlFrame(field: number, sub: readonly SubField[]): Buffer {
  const present = sub.filter(([, v]) => (typeof v === 'number' ? v !== 0 : v.length > 0))
  const size = ([f, v]: SubField): number => typeof v === 'number'
    ? varintLength(f << 3) + varintLength(v)
    : varintLength((f << 3) | WT_LEN) + varintLength(v.length) + v.length
  const inner = present.reduce((n, s) => n + size(s), 0)
  const len = varintLength((field << 3) | WT_LEN) + varintLength(inner) + inner
  const buf = Buffer.allocUnsafe(LEN_PREFIX + len)
  buf.writeUInt32LE(len, 0)
  let off = putVarint(buf, LEN_PREFIX, (field << 3) | WT_LEN)
  off = putVarint(buf, off, inner)
  for (const [f, v] of present) {
    if (typeof v === 'number') {
      off = putVarint(buf, off, (f << 3) | WT_VARINT)
      off = putVarint(buf, off, v)
    } else {
      off = putVarint(buf, off, (f << 3) | WT_LEN)
      off = putVarint(buf, off, v.length)
      off += v.copy(buf, off)
    }
  }
  return buf
}

/** Which sub-fields each known field has: varints, and bytes. */
export type KnownFields = Record<number, { varints: readonly number[]; bytes?: readonly number[] }>

export interface ControlFields { field: number; v: (f: number) => number; bytes: Map<number, Buffer> }

/** A frame's marker (without its length prefix); anything unknown is refused, `what` naming the channel. */
export function decodeControl(buf: Buffer, known: KnownFields, what: string): ControlFields {
  const pos = { off: 0 }
  const key = getVarint(buf, pos)
  const field = Math.floor(key / 8)
  const k = known[field]
  if (k === undefined || (key & 7) !== WT_LEN) throw new FramingError(`${what}: unknown marker field ${field} (wire type ${key & 7})`)
  const len = getVarint(buf, pos)
  if (pos.off + len !== buf.length) throw new FramingError(`${what}: field ${field} is ${len} bytes, the marker has ${buf.length - pos.off}`)
  const vs = new Map<number, number>()
  const bytes = new Map<number, Buffer>()
  while (pos.off < buf.length) {
    const sk = getVarint(buf, pos)
    const f = Math.floor(sk / 8)
    if ((sk & 7) === WT_VARINT && k.varints.includes(f)) { vs.set(f, getVarint(buf, pos)); continue }
    if ((sk & 7) === WT_LEN && k.bytes?.includes(f)) {
      const n = getVarint(buf, pos)
      if (pos.off + n > buf.length) throw new FramingError(`${what}: sub-field ${f} runs past the end`)
      bytes.set(f, buf.subarray(pos.off, pos.off + n))
      pos.off += n
      continue
    }
    throw new FramingError(`${what}: unknown sub-field ${f} of field ${field}`)
  }
  return { field, v: f => vs.get(f) ?? 0, bytes }
}
