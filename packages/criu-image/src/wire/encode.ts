import { WireType, type Field, type LenField, type Message, type VarintField } from './field.js'
import { encodeVarint } from './varint.js'

function tag(num: number, type: WireType): Buffer {
  return encodeVarint((BigInt(num) << 3n) | BigInt(type))
}

export function varintField(num: number, value: bigint | number): VarintField {
  const v = BigInt(value)
  return { num, type: WireType.Varint, value: v, raw: Buffer.concat([tag(num, WireType.Varint), encodeVarint(v)]) }
}

export function lenField(num: number, value: Buffer): LenField {
  return { num, type: WireType.Len, value, raw: Buffer.concat([tag(num, WireType.Len), encodeVarint(value.length), value]) }
}

/** Concatenates the fields' raw bytes: untouched fields come out exactly as they were read. */
export function encodeMessage(fields: readonly Field[]): Buffer {
  return Buffer.concat(fields.map((f) => f.raw))
}

/**
 * Gives field `num` a new value while keeping every other field and its position. Protobuf lets
 * the last occurrence win, so all occurrences collapse into one at the first one's place; a field
 * not present goes before the first higher-numbered field, the order protobuf-c writes.
 */
export function setField(msg: Message, replacement: Field): Message {
  const at = msg.findIndex((f) => f.num === replacement.num)
  const others = msg.filter((f) => f.num !== replacement.num)
  const higher = others.findIndex((f) => f.num > replacement.num)
  // Nothing before the first occurrence has this number, so its index is the same in `others`.
  const insertAt = at >= 0 ? at : higher >= 0 ? higher : others.length
  return [...others.slice(0, insertAt), replacement, ...others.slice(insertAt)]
}
