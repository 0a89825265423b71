// The protobuf wire primitives the shard markers are made of (varints), shared by the marker
// codec and the extension messages.
import { FramingError } from './errors.js'

export const WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2

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

export function getVarint(buf: Buffer, pos: { off: number }): number {
  let v = 0, scale = 1
  for (let i = 0; i < 10; i++) {
    if (pos.off >= buf.length) throw new FramingError('malformed marker: varint runs past the end')
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

// ignoreBOM: a leading U+FEFF is kept as a character, so a name re-encodes to the bytes it came
// from (the transcript digest re-encodes every marker).
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** A string field: UTF-8, strictly. Invalid bytes are refused here, never turned into U+FFFD. */
export function getUtf8(buf: Uint8Array, what: string): string {
  try {
    return UTF8.decode(buf)
  } catch {
    throw new FramingError(`malformed marker: ${what} is not UTF-8`)
  }
}
