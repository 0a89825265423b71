import { decodeMessage } from './decode.js'
import { WireType, type Field, type Message } from './field.js'
import { readVarint } from './varint.js'
import { WireError } from './wire-error.js'

/*
 * Typed reads of decoded fields. `name` is the proto path ("pagemap_entry.vaddr") used in errors.
 * Scalars follow protobuf's "last occurrence wins"; numbers must fit a JS number exactly.
 */

const U32_MAX = 0xffff_ffffn
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER)

function hex(v: bigint): string {
  return `0x${v.toString(16)}`
}

function last(msg: Message, num: number): Field | undefined {
  for (let i = msg.length - 1; i >= 0; i--) {
    const f = msg[i]
    if (f?.num === num) return f
  }
  return undefined
}

function varintOf(f: Field, name: string): bigint {
  if (f.type !== WireType.Varint) throw new WireError(`${name} has wire type ${f.type}, expected a varint`)
  return f.value
}

function toU64(v: bigint, name: string): number {
  if (v > SAFE_MAX) throw new WireError(`${name} = ${hex(v)} is above Number.MAX_SAFE_INTEGER`)
  return Number(v)
}

function toU32(v: bigint, name: string): number {
  if (v > U32_MAX) throw new WireError(`${name} = ${hex(v)} does not fit uint32`)
  return Number(v)
}

function required<T>(v: T | undefined, name: string): T {
  if (v === undefined) throw new WireError(`missing required field ${name}`)
  return v
}

export function has(msg: Message, num: number): boolean {
  return msg.some((f) => f.num === num)
}

export function optionalVarint(msg: Message, num: number, name: string): bigint | undefined {
  const f = last(msg, num)
  return f === undefined ? undefined : varintOf(f, name)
}

export function optionalU64(msg: Message, num: number, name: string): number | undefined {
  const v = optionalVarint(msg, num, name)
  return v === undefined ? undefined : toU64(v, name)
}

export function requiredU64(msg: Message, num: number, name: string): number {
  return required(optionalU64(msg, num, name), name)
}

export function optionalU32(msg: Message, num: number, name: string): number | undefined {
  const v = optionalVarint(msg, num, name)
  return v === undefined ? undefined : toU32(v, name)
}

export function requiredU32(msg: Message, num: number, name: string): number {
  return required(optionalU32(msg, num, name), name)
}

export function optionalBool(msg: Message, num: number, name: string): boolean | undefined {
  const v = optionalVarint(msg, num, name)
  return v === undefined ? undefined : v !== 0n
}

/** Repeated uint32: CRIU writes them unpacked, but proto2 readers must accept packed too. */
export function repeatedU32(msg: Message, num: number, name: string): number[] {
  const out: number[] = []
  for (const f of msg) {
    if (f.num !== num) continue
    if (f.type === WireType.Varint) {
      out.push(toU32(f.value, name))
    } else if (f.type === WireType.Len) {
      for (let pos = 0; pos < f.value.length; ) {
        const v = readVarint(f.value, pos)
        out.push(toU32(v.value, name))
        pos = v.next
      }
    } else {
      throw new WireError(`${name} has wire type ${f.type}, expected a varint`)
    }
  }
  return out
}

function messageOf(f: Field, name: string): Message {
  if (f.type !== WireType.Len) throw new WireError(`${name} has wire type ${f.type}, expected a message`)
  try {
    return decodeMessage(f.value)
  } catch (e) {
    if (e instanceof WireError) throw new WireError(`${name}: ${e.message}`)
    throw e
  }
}

export function optionalMessage(msg: Message, num: number, name: string): Message | undefined {
  const f = last(msg, num)
  return f === undefined ? undefined : messageOf(f, name)
}

export function repeatedMessages(msg: Message, num: number, name: string): Message[] {
  return msg.filter((f) => f.num === num).map((f, i) => messageOf(f, `${name}[${i}]`))
}
