// Protobuf base-128 varints, for the markers written by hand (marker.ts, page-stream.ts). Numbers
// stay JS numbers: every field we read is checked to be a safe integer.
import { FramingError } from './errors.js'

export function varintLength(v: number): number {
  let n = 1
  while (v >= 0x80) { v = Math.floor(v / 128); n++ }
  return n
}

export function putVarint(buf: Buffer, off: number, v: number): number {
  while (v >= 0x80) { buf[off++] = (v % 128) | 0x80; v = Math.floor(v / 128) }
  buf[off++] = v
  return off
}

export function getVarint(buf: Buffer, pos: { off: number }, end = buf.length): number {
  let v = 0, scale = 1
  for (let i = 0; i < 10; i++) {
    if (pos.off >= end) throw new FramingError('malformed marker: varint runs past the end')
    const b = buf[pos.off++]!
    v += (b & 0x7f) * scale
    if (!(b & 0x80)) {
      if (!Number.isSafeInteger(v)) throw new FramingError('malformed marker: number too large')
      return v
    }
    scale *= 128
  }
  throw new FramingError('malformed marker: varint longer than 10 bytes')
}
