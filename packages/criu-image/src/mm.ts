import { ImageError } from './errors.js'
import { encodeImage, parseImage } from './image-file.js'
import { inEntry } from './in-entry.js'
import { MM_MAGIC } from './magic.js'
import { VMA_AREA_VSYSCALL } from './vma-bits.js'
import { WireError } from './wire/wire-error.js'
import { decodeMessage } from './wire/decode.js'
import { encodeMessage, lenField, varintField } from './wire/encode.js'
import type { Message } from './wire/field.js'
import { optionalVarint, repeatedMessages, requiredU32, requiredU64 } from './wire/read.js'

/* images/mm.proto and images/vma.proto field numbers. */
const MM_VMAS = 14
const VMA_START = 1
const VMA_END = 2
const VMA_PGOFF = 3
const VMA_SHMID = 4
const VMA_PROT = 5
const VMA_FLAGS = 6
const VMA_STATUS = 7

/**
 * Doubles hold every multiple of 4096 below 2^65 exactly (52-bit mantissa, 2^64 / 2^52 = 2^12),
 * so page-aligned u64 addresses survive as JS numbers even above 2^53.
 */
const EXACT_ALIGNMENT = 4096n

export interface Vma {
  start: number
  /** Exclusive. */
  end: number
  pgoff: number
  /** File id for file mappings, shmem id for shared anonymous ones, 0 for private anonymous. */
  shmid: number
  prot: number
  flags: number
  status: number
}

export interface Mm {
  vmas: Vma[]
}

/**
 * The vsyscall page sits at 0xffffffffff600000 on x86_64, far above Number.MAX_SAFE_INTEGER, and
 * CRIU lists it in every mm image. Its bounds are page-aligned, hence exact as doubles, and it is
 * never lazy; refusing it would make every real mm image unreadable. All other VMAs must stay
 * below MAX_SAFE_INTEGER like any address.
 */
function vsyscallAddress(msg: Message, num: number, name: string): number {
  const v = optionalVarint(msg, num, name)
  if (v === undefined) throw new WireError(`missing required field ${name}`)
  if (v % EXACT_ALIGNMENT !== 0n) throw new WireError(`${name} = 0x${v.toString(16)} of the vsyscall VMA is not page-aligned`)
  return Number(v)
}

function decodeVma(msg: Message, name: string): Vma {
  const status = requiredU32(msg, VMA_STATUS, `${name}.status`)
  const address = (status & VMA_AREA_VSYSCALL) !== 0 ? vsyscallAddress : requiredU64
  const vma = {
    start: address(msg, VMA_START, `${name}.start`),
    end: address(msg, VMA_END, `${name}.end`),
    pgoff: requiredU64(msg, VMA_PGOFF, `${name}.pgoff`),
    shmid: requiredU64(msg, VMA_SHMID, `${name}.shmid`),
    prot: requiredU32(msg, VMA_PROT, `${name}.prot`),
    flags: requiredU32(msg, VMA_FLAGS, `${name}.flags`),
    status,
  }
  if (vma.end <= vma.start) throw new WireError(`${name}: end 0x${vma.end.toString(16)} is not above start 0x${vma.start.toString(16)}`)
  return vma
}

/** Decodes mm-<pid>.img: one mm_entry. Only the VMAs are exposed; other fields are not needed. */
export function decodeMm(buf: Buffer, name = 'mm.img'): Mm {
  const entries = parseImage(buf, name, MM_MAGIC).entries
  const [first] = entries
  if (first === undefined) throw new ImageError(name, 'missing mm_entry: the file has no entries')
  if (entries.length > 1) throw new ImageError(name, `expected one mm_entry, found ${entries.length} entries`)
  return inEntry(name, 0, 'mm_entry', () => {
    const vmas = repeatedMessages(decodeMessage(first), MM_VMAS, 'mm_entry.vmas').map((m, i) =>
      decodeVma(m, `mm_entry.vmas[${i}]`),
    )
    return { vmas }
  })
}

/* mm_entry fields 1..12 (code/data/stack/brk/arg/env bounds, exe_file_id) are required. */
const MM_REQUIRED_SCALARS = 12
const VMA_FD = 8
/** vma_entry.fd is unused and always -1, which is 1 after zigzag (sint64). */
const VMA_FD_UNUSED_ZIGZAG = 1

/**
 * Writes an mm image with the given VMAs and every other required field zero. Meant for test
 * fixtures: a real mm image is only ever copied, never rebuilt.
 */
export function encodeMm(mm: Mm): Buffer {
  const scalars = Array.from({ length: MM_REQUIRED_SCALARS }, (_, i) => varintField(i + 1, 0))
  const vmas = mm.vmas.map((v) =>
    lenField(
      MM_VMAS,
      encodeMessage([
        varintField(VMA_START, v.start),
        varintField(VMA_END, v.end),
        varintField(VMA_PGOFF, v.pgoff),
        varintField(VMA_SHMID, v.shmid),
        varintField(VMA_PROT, v.prot),
        varintField(VMA_FLAGS, v.flags),
        varintField(VMA_STATUS, v.status),
        varintField(VMA_FD, VMA_FD_UNUSED_ZIGZAG),
      ]),
    ),
  )
  return encodeImage({ magic: MM_MAGIC, entries: [encodeMessage([...scalars, ...vmas])] })
}
