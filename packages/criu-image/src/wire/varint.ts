import { WireError } from './wire-error.js'

/** A u64 needs ceil(64 / 7) = 10 varint bytes; an 11th continuation byte is never valid. */
const MAX_VARINT_BYTES = 10
/** The 10th byte carries only bit 63 of the value, so anything above 1 there overflows 64 bits. */
const MAX_LAST_BYTE = 1
const CONTINUATION = 0x80
const PAYLOAD = 0x7f
const U64_MAX = (1n << 64n) - 1n

export interface VarintRead {
  value: bigint
  /** Offset of the first byte after the varint. */
  next: number
}

/** Reads a base-128 varint starting at `pos`. Values are u64, hence bigint. */
export function readVarint(buf: Uint8Array, pos: number): VarintRead {
  let value = 0n
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    const byte = buf[pos + i]
    if (byte === undefined) throw new WireError(`malformed varint at byte ${pos}: truncated`)
    if (i === MAX_VARINT_BYTES - 1 && byte > MAX_LAST_BYTE) {
      throw new WireError(`malformed varint at byte ${pos}: more than 64 bits`)
    }
    value |= BigInt(byte & PAYLOAD) << BigInt(7 * i)
    if ((byte & CONTINUATION) === 0) return { value, next: pos + i + 1 }
  }
  throw new WireError(`malformed varint at byte ${pos}: longer than ${MAX_VARINT_BYTES} bytes`)
}

/** Encodes a u64 as the shortest varint, as protobuf-c does. */
export function encodeVarint(value: bigint | number): Buffer {
  let v = BigInt(value)
  if (v < 0n || v > U64_MAX) throw new RangeError(`varint value ${v} is outside u64`)
  const out: number[] = []
  while (v >= BigInt(CONTINUATION)) {
    out.push(Number(v & BigInt(PAYLOAD)) | CONTINUATION)
    v >>= 7n
  }
  out.push(Number(v))
  return Buffer.from(out)
}
