// The content index of a checkpoint (img-split --index-out): for every whole page of every
// pages-N.img the stream carried, its hash and where it lives (file, page number; offset = page
// x CONTENT_CHUNK, length CONTENT_CHUNK). The next round reads it back (--base-index) to know what
// the receiver's base holds. Layout, little-endian:
//   "CRPIDX\0\2" | u32 page size | entries: [32-byte SHA-256][u32 file][u32 page] x N
//   | files: [u16 length][name] x F | footer: u64 files offset, u32 F, u32 0, u64 N, u64 XXH64 of
//   everything before it.
// Trust model: written into an unnamed file (O_TMPFILE, 0600) in a directory that passes the
// private-directory rule, held by fd, and given its name only once complete and synced (linkat:
// never over an existing file). A capture that fails, or a process that ends first (even by
// SIGKILL), leaves nothing under the name. Read only from a regular file of ours that no other
// user may write.
import { closeSync, constants, fstatSync, openSync, readSync, writeSync, fsyncSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { EEXIST, SysError, closeQuietly, linkFdAt, openPrivateDir, openTmpFileAt, statAt } from '@criu-pipes/sys'
import { FramingError } from '../errors.js'
import { checkFileName } from '../names.js'
import { CONTENT_CHUNK, REF_HASH_BYTES } from '../ext/limits.js'
import { xxhash } from '../xxhash.js'


// The last byte is the format version, which names the page hash: 2, SHA-256 (ext/refs.ts); 1 was
// xxh3-128, which can be collided at will, and is refused by name rather than misread.
const MAGIC = Buffer.from('CRPIDX\0\x02', 'latin1')
const MAGIC_XXH3 = Buffer.from('CRPIDX\0\x01', 'latin1')
const HEADER_BYTES = MAGIC.length + 4
export const ENTRY_BYTES = REF_HASH_BYTES + 8
const FOOTER_BYTES = 32
const EXISTS = 'it exists (an index is never overwritten)'
// Entries are gathered in blocks this large, each written to the file once full: while the pages
// stream, so what is left for the end (the process still frozen) is the last block, the file
// table, the footer and the fsync.
const BLOCK = 1 << 20

export class IndexWriter {
  private readonly block = Buffer.alloc(BLOCK)
  private used = 0
  /** XXH64 of everything written so far (the footer's checksum); xxhash loaded at create, not at the end. */
  private readonly sum = new (xxhash().Xxh64)()
  private readonly files = new Map<string, number>()
  count = 0
  private done = false

  private constructor(readonly path: string, private readonly dirFd: number, private readonly name: string, private readonly fd: number) {
    const header = Buffer.alloc(HEADER_BYTES)
    MAGIC.copy(header)
    header.writeUInt32LE(CONTENT_CHUNK, MAGIC.length)
    this.put(header)
  }

  /**
   * Checks FILE's place now, so a bad path fails before CRIU starts: never an existing name (a
   * file, a symlink), never in a directory another user could swap (a sticky one, /tmp, is fine:
   * the name is linked by us, and never over an entry someone else made meanwhile).
   */
  static create(path: string): IndexWriter {
    const abs = resolve(path)
    let dirFd: number
    try {
      dirFd = openPrivateDir(dirname(abs), { sticky: true })
    } catch (e) {
      throw new FramingError(`index ${path}: ${(e as Error).message}`)
    }
    const name = basename(abs)
    try {
      if (statAt(dirFd, name) !== null) throw new FramingError(`index ${path}: ${EXISTS}`)
      return new IndexWriter(path, dirFd, name, openTmpFileAt(dirFd, 0o600, dirname(abs)))
    } catch (e) {
      closeQuietly(dirFd)
      if (e instanceof FramingError) throw e
      throw new FramingError(`index ${path}: ${(e as Error).message}`)
    }
  }

  fileId(name: string): number {
    let id = this.files.get(name)
    if (id === undefined) this.files.set(name, (id = this.files.size))
    return id
  }

  /** One page: its hash at `hashes[off]`. */
  add(file: number, page: number, hashes: Buffer, off: number): void {
    if (this.used + ENTRY_BYTES > BLOCK) { this.put(this.block.subarray(0, this.used)); this.used = 0 }
    hashes.copy(this.block, this.used, off, off + REF_HASH_BYTES)
    this.block.writeUInt32LE(file, this.used + REF_HASH_BYTES)
    this.block.writeUInt32LE(page, this.used + REF_HASH_BYTES + 4)
    this.used += ENTRY_BYTES
    this.count++
  }

  /**
   * Writes the rest and syncs it: the index is complete (a reader refuses it before: no footer,
   * no matching checksum), or removed.
   */
  finish(): void {
    const names = [...this.files.keys()].map(n => Buffer.from(n))
    this.put(this.block.subarray(0, this.used))
    this.put(Buffer.concat(names.flatMap(n => { const l = Buffer.alloc(2); l.writeUInt16LE(n.length); return [l, n] })))
    const footer = Buffer.alloc(FOOTER_BYTES)
    footer.writeBigUInt64LE(BigInt(HEADER_BYTES + this.count * ENTRY_BYTES), 0)
    footer.writeUInt32LE(names.length, 8)
    footer.writeBigUInt64LE(BigInt(this.count), 16)
    this.sum.update(footer.subarray(0, 24))
    footer.writeBigUInt64LE(this.sum.digest(), 24)
    for (let off = 0; off < footer.length;) off += writeSync(this.fd, footer, off)
    fsyncSync(this.fd)
    try {
      linkFdAt(this.fd, this.dirFd, this.name, this.path)
      fsyncSync(this.dirFd)
    } catch (e) {
      this.release()
      throw new FramingError(`index ${this.path}: ${e instanceof SysError && e.errno === EEXIST ? EXISTS : (e as Error).message}`)
    }
    this.release()
  }

  /** Appends `b` to the file and to the checksum. */
  private put(b: Buffer): void {
    this.sum.update(b)
    for (let off = 0; off < b.length;) off += writeSync(this.fd, b, off)
  }

  /** The capture failed: the unnamed file goes with its fd, nothing is left behind. */
  abort(): void {
    if (!this.done) this.release()
  }

  private release(): void {
    this.done = true
    closeSync(this.fd)
    closeQuietly(this.dirFd)
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
    // O_NONBLOCK: a FIFO at the name is refused below (not a regular file), not waited on here.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
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
  if (buf.subarray(0, MAGIC.length).equals(MAGIC_XXH3)) bad('an index of the old format, whose page hash (xxh3-128) can be collided: capture that checkpoint again with this version')
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
