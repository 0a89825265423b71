/** Protobuf wire types. Groups (3 and 4) are deprecated and never written by protobuf-c for CRIU. */
export const WireType = {
  Varint: 0,
  Fixed64: 1,
  Len: 2,
  Fixed32: 5,
} as const
export type WireType = (typeof WireType)[keyof typeof WireType]

interface FieldBase {
  num: number
  /** The field exactly as read (tag included), so a rewrite can copy untouched fields verbatim. */
  raw: Buffer
}
export interface VarintField extends FieldBase {
  type: typeof WireType.Varint
  value: bigint
}
export interface LenField extends FieldBase {
  type: typeof WireType.Len
  value: Buffer
}
export interface FixedField extends FieldBase {
  type: typeof WireType.Fixed32 | typeof WireType.Fixed64
  value: Buffer
}
export type Field = VarintField | LenField | FixedField

/** A message as its fields in wire order: unknown fields included, so encode(decode(b)) === b. */
export type Message = Field[]
