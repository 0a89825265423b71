import { WireType, type Field, type Message } from './field.js'
import { readVarint } from './varint.js'
import { WireError } from './wire-error.js'

const TAG_TYPE_BITS = 3n
const TAG_TYPE_MASK = 7n
/** Protobuf field numbers are at most 2^29 - 1. */
const MAX_FIELD_NUMBER = (1n << 29n) - 1n
const FIXED32_BYTES = 4
const FIXED64_BYTES = 8

/**
 * Splits one protobuf message into its fields. Nested messages stay as bytes (LEN fields) until
 * the caller decodes them, since only the caller knows which LEN fields are messages.
 */
export function decodeMessage(buf: Buffer): Message {
  const fields: Message = []
  let pos = 0
  while (pos < buf.length) {
    const start = pos
    const tag = readVarint(buf, pos)
    pos = tag.next
    const num = tag.value >> TAG_TYPE_BITS
    const type = Number(tag.value & TAG_TYPE_MASK)
    if (num === 0n || num > MAX_FIELD_NUMBER) {
      throw new WireError(`bad field number ${num} at byte ${start}`)
    }
    const n = Number(num)
    switch (type) {
      case WireType.Varint: {
        const v = readVarint(buf, pos)
        pos = v.next
        fields.push({ num: n, type, value: v.value, raw: buf.subarray(start, pos) })
        break
      }
      case WireType.Len: {
        const len = readVarint(buf, pos)
        const left = buf.length - len.next
        if (len.value > BigInt(left)) {
          throw new WireError(`field ${n} at byte ${start} is truncated: length ${len.value}, ${left} bytes left`)
        }
        const end = len.next + Number(len.value)
        fields.push({ num: n, type, value: buf.subarray(len.next, end), raw: buf.subarray(start, end) })
        pos = end
        break
      }
      case WireType.Fixed32:
      case WireType.Fixed64: {
        const size = type === WireType.Fixed32 ? FIXED32_BYTES : FIXED64_BYTES
        if (pos + size > buf.length) throw new WireError(`field ${n} at byte ${start} is truncated`)
        fields.push({ num: n, type, value: buf.subarray(pos, pos + size), raw: buf.subarray(start, pos + size) })
        pos += size
        break
      }
      default:
        throw new WireError(`unsupported wire type ${type} for field ${n} at byte ${start}`)
    }
  }
  return fields
}
