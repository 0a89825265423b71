import { ImageError } from './errors.js'
import { describeMagic, headerMagics } from './magic.js'

const U32_BYTES = 4
/**
 * Upper bound on one entry. CRIU's biggest messages are mm entries: max_map_count (65530 VMAs)
 * at under 80 bytes each is about 5 MB. A length beyond this is a corrupted file or not an image,
 * and refusing it early beats allocating whatever a stray u32 says.
 */
export const MAX_ENTRY_SIZE = 64 * 1024 * 1024

export interface ImageFile {
  /** The type magic (the second u32, or INVENTORY_MAGIC for inventory.img). */
  magic: number
  /** Each entry's message bytes, without the u32 length in front. Views into the input buffer. */
  entries: Buffer[]
}

/**
 * Splits an image into its entries: header magics, then `[u32 LE size][message]` until EOF at an
 * entry boundary. Images with a raw payload after entries (pipes-data, sk-queues...) are not
 * supported: none of the images criu-pipes reads has one.
 */
export function parseImage(buf: Buffer, file: string, magic: number): ImageFile {
  const expected = headerMagics(magic)
  const headerSize = expected.length * U32_BYTES
  if (buf.length < headerSize) {
    throw new ImageError(file, `bad magic: ${buf.length} bytes, too short for the ${describeMagic(magic)} header`)
  }
  const found = expected.map((_, i) => buf.readUInt32LE(i * U32_BYTES))
  if (found.some((m, i) => m !== expected[i])) {
    throw new ImageError(
      file,
      `bad magic: expected ${expected.map(describeMagic).join(' ')}, found ${found.map(describeMagic).join(' ')}`,
    )
  }
  const entries: Buffer[] = []
  let pos = headerSize
  while (pos < buf.length) {
    const where = `entry ${entries.length} at byte ${pos}`
    if (pos + U32_BYTES > buf.length) {
      throw new ImageError(file, `truncated entry: ${where} has ${buf.length - pos} of the 4 bytes of its size`)
    }
    const size = buf.readUInt32LE(pos)
    if (size > MAX_ENTRY_SIZE) {
      throw new ImageError(file, `entry too large: ${where} claims ${size} bytes (limit ${MAX_ENTRY_SIZE})`)
    }
    const start = pos + U32_BYTES
    if (start + size > buf.length) {
      throw new ImageError(file, `truncated entry: ${where} claims ${size} bytes, ${buf.length - start} left`)
    }
    entries.push(buf.subarray(start, start + size))
    pos = start + size
  }
  return { magic, entries }
}

/** The inverse of parseImage: header magics, then each entry with its u32 LE size recomputed. */
export function encodeImage(image: ImageFile): Buffer {
  const magics = headerMagics(image.magic)
  const parts: Buffer[] = []
  const header = Buffer.alloc(magics.length * U32_BYTES)
  magics.forEach((m, i) => header.writeUInt32LE(m, i * U32_BYTES))
  parts.push(header)
  for (const e of image.entries) {
    if (e.length > MAX_ENTRY_SIZE) throw new RangeError(`entry of ${e.length} bytes is above MAX_ENTRY_SIZE`)
    const size = Buffer.alloc(U32_BYTES)
    size.writeUInt32LE(e.length)
    parts.push(size, e)
  }
  return Buffer.concat(parts)
}
