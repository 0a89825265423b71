// The content index of a checkpoint (img-split --index-out): for every whole page of every
// pages-N.img the stream carried, its hash and where it lives (file, page number; offset = page
// x CONTENT_CHUNK, length CONTENT_CHUNK). The next round reads it back (--base-index) to know what
// the receiver's base holds. Layout, little-endian:
//   "CRPIDX\0\1" | u32 page size | entries: [16-byte hash][u32 file][u32 page] x N
//   | files: [u16 length][name] x F | footer: u64 files offset, u32 F, u32 0, u64 N, u64 XXH64 of
//   everything before it.
// Trust model: written only into a file created here (O_EXCL|O_NOFOLLOW, 0600), removed again if
// the capture fails; read only from a regular file of ours that no other user may write.
import { closeSync, constants, fstatSync, openSync, readSync, unlinkSync, writeSync, fsyncSync } from 'node:fs'
import { FramingError } from '../errors.js'
import { checkFileName } from '../names.js'
import { CONTENT_CHUNK, REF_HASH_BYTES } from '../ext/limits.js'
import { xxhash } from '../xxhash.js'


const MAGIC = Buffer.from('CRPIDX\0\x01', 'latin1')
const HEADER_BYTES = MAGIC.length + 4
export const ENTRY_BYTES = REF_HASH_BYTES + 8
const FOOTER_BYTES = 32
// Entries are gathered in blocks this large (memory grows with the image: 24 bytes a page).
const BLOCK = 1 << 20
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

export class IndexWriter {
  private readonly blocks: Buffer[] = []
  private block = Buffer.alloc(BLOCK)
  private used = 0
  private readonly files = new Map<string, number>()
  count = 0
  private done = false

  private constructor(readonly path: string, private readonly fd: number) {}

  /** Creates FILE now, so a bad path fails before CRIU starts; never an existing file or a symlink. */
  static create(path: string): IndexWriter {
    try {
      return new IndexWriter(path, openSync(path, CREATE, 0o600))
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      const why = code === 'EEXIST' ? 'it exists (an index is never overwritten)' : code === 'ELOOP' ? 'it is a symbolic link' : (e as Error).message
      throw new FramingError(`index ${path}: ${why}`)
    }
  }

  fileId(name: string): number {
    let id = this.files.get(name)
    if (id === undefined) this.files.set(name, (id = this.files.size))
    return id
  }

  /** One page: its hash at `hashes[off]`. */
  add(file: number, page: number, hashes: Buffer, off: number): void {
    if (this.used + ENTRY_BYTES > BLOCK) { this.blocks.push(this.block.subarray(0, this.used)); this.block = Buffer.alloc(BLOCK); this.used = 0 }
    hashes.copy(this.block, this.used, off, off + REF_HASH_BYTES)
    this.block.writeUInt32LE(file, this.used + REF_HASH_BYTES)
    this.block.writeUInt32LE(page, this.used + REF_HASH_BYTES + 4)
    this.used += ENTRY_BYTES
    this.count++
  }

  /** Writes everything and syncs it: the index exists complete, or not at all. */
  finish(): void {
    const header = Buffer.alloc(HEADER_BYTES)
    MAGIC.copy(header)
    header.writeUInt32LE(CONTENT_CHUNK, MAGIC.length)
    const names = [...this.files.keys()].map(n => Buffer.from(n))
    const table = Buffer.concat(names.flatMap(n => { const l = Buffer.alloc(2); l.writeUInt16LE(n.length); return [l, n] }))
    const parts = [header, ...this.blocks, this.block.subarray(0, this.used), table]
    const sum = new (xxhash().Xxh64)()
    for (const p of parts) sum.update(p)
    const footer = Buffer.alloc(FOOTER_BYTES)
    footer.writeBigUInt64LE(BigInt(HEADER_BYTES + this.count * ENTRY_BYTES), 0)
    footer.writeUInt32LE(names.length, 8)
    footer.writeBigUInt64LE(BigInt(this.count), 16)
    sum.update(footer.subarray(0, 24))
    footer.writeBigUInt64LE(sum.digest(), 24)
    for (const p of [...parts, footer]) for (let off = 0; off < p.length;) off += writeSync(this.fd, p, off)
    fsyncSync(this.fd)
    closeSync(this.fd)
    this.done = true
  }

  /** The capture failed: no index is left behind. */
  abort(): void {
    if (this.done) return
    this.done = true
    closeSync(this.fd)
    try { unlinkSync(this.path) } catch { /* already gone */ }
  }
}

export interface ContentIndex {
  files: string[]
  /** N x REF_HASH_BYTES, in shared memory (the hash workers look them up). */
  hashes: Buffer
  /** [file, page] per entry, in shared memory. */
  locs: Uint32Array
  count: number
}

/** Opens a file for reading only if it is a regular file of ours that no other user can write. */
export function openPrivate(path: string, what: string): number {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (e) {
    throw new FramingError(`${what} ${path}: ${(e as NodeJS.ErrnoException).code === 'ELOOP' ? 'it is a symbolic link' : (e as Error).message}`)
  }
  const st = fstatSync(fd)
  const why = !st.isFile() ? 'it is not a regular file'
    : st.uid !== process.geteuid!() ? `it belongs to uid ${st.uid}, not to us`
    : st.mode & 0o022 ? `mode ${(st.mode & 0o777).toString(8)} lets other users write it`
    : null
  if (why) { closeSync(fd); throw new FramingError(`${what} ${path}: ${why}`) }
  return fd
}

export function readIndex(path: string): ContentIndex {
  const fd = openPrivate(path, 'index')
  let buf: Buffer
  try {
    const size = fstatSync(fd).size
    buf = Buffer.alloc(size)
    for (let off = 0; off < size;) { const n = readSync(fd, buf, off, size - off, off); if (n === 0) break; off += n }
  } finally {
    closeSync(fd)
  }
  const bad = (why: string): never => { throw new FramingError(`index ${path}: ${why}`) }
  if (buf.length < HEADER_BYTES + FOOTER_BYTES || !buf.subarray(0, MAGIC.length).equals(MAGIC)) bad('not a content index (no magic)')
  if (buf.readUInt32LE(MAGIC.length) !== CONTENT_CHUNK) bad(`page size ${buf.readUInt32LE(MAGIC.length)}, this reader knows ${CONTENT_CHUNK}`)
  const foot = buf.length - FOOTER_BYTES
  if (xxhash().xxh64(buf.subarray(0, foot + 24)) !== buf.readBigUInt64LE(foot + 24)) bad('its checksum does not match: damaged or truncated')
  const tableAt = Number(buf.readBigUInt64LE(foot)), nfiles = buf.readUInt32LE(foot + 8), count = Number(buf.readBigUInt64LE(foot + 16))
  if (tableAt !== HEADER_BYTES + count * ENTRY_BYTES || tableAt > foot) bad('its entry count does not match its size')
  const files: string[] = []
  for (let off = tableAt; files.length < nfiles;) {
    if (off + 2 > foot) bad('its file table is truncated')
    const len = buf.readUInt16LE(off)
    files.push(checkFileName(buf.toString('utf8', off + 2, off + 2 + len)))
    off += 2 + len
  }
  const hashes = Buffer.from(new SharedArrayBuffer(Math.max(REF_HASH_BYTES, count * REF_HASH_BYTES)))
  const locs = new Uint32Array(new SharedArrayBuffer(Math.max(4, count * 8)))
  for (let i = 0; i < count; i++) {
    const at = HEADER_BYTES + i * ENTRY_BYTES
    buf.copy(hashes, i * REF_HASH_BYTES, at, at + REF_HASH_BYTES)
    const file = buf.readUInt32LE(at + REF_HASH_BYTES)
    if (file >= nfiles) bad(`entry ${i} names file ${file} of ${nfiles}`)
    locs[2 * i] = file
    locs[2 * i + 1] = buf.readUInt32LE(at + REF_HASH_BYTES + 4)
  }
  return { files, hashes, locs, count }
}
