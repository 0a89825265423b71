// The post-copy page stream: lazy pages one way, requests the other, over ONE bidirectional
// channel (ssh, socat, a pipe pair). Every message is a shard-format frame, `[u32 LE length]
// [marker]`, whose marker holds exactly one page-stream field of extensions.ts, message-valued
// (wire type 2), its sub-fields varints:
//
//   feeder -> daemon
//     PAGE_HELLO   {1 version, 2 page_size, 3 pages, 4 codec,   first message: what is to come,
//                   5 dump (16 bytes), 6 refs}                  and of which dump (see DUMP_ID_BYTES);
//                                                               refs 1: PAGE_REFs may follow
//     PAGE_RANGE   {1 pid, 2 vaddr, 3 nr_pages, 4 requested}    then nr_pages * 4096 raw bytes
//     PAGE_REF     {1 pid, 2 vaddr, 3 nr_pages, 4 requested,    pages the daemon's base holds: then
//                   5 file (bytes), 6 first page}               nr_pages * 32 bytes, each page's
//                                                               SHA-256 (ext/refs.ts); the pages
//                                                               are pages first_page.. of the
//                                                               base's `file` (a pages-N.img)
//     PAGES_DONE   {1 status (zigzag)}                          the page-server session is closed
//   daemon -> feeder
//     PAGE_PUSH    {1 credit}                                   push up to `credit` more pages (the
//                                                               first one: the restore has finished)
//     PAGE_REQUEST {1 pid, 2 vaddr, 3 nr_pages}                 a fault wants these first
//     PAGES_DONE   {}                                           every page arrived: close in order
//
// pid is the pid in the images, vaddr the dump-time address (what CRIU's page server knows).
// Every limit is checked before anything is allocated: a marker is at most MAX_PAGE_MARKER_LEN
// bytes, a range or a reference at most MAX_RANGE_PAGES pages, a reference's file name at most
// MAX_REF_FILE_NAME bytes and a pages-N.img.
//
// Compression hook: PAGE_HELLO's `codec` (4) is 0, raw pages, today. The chunk codec of the
// in-stream compression work (Field.CHUNK, 7) is meant to slot in here: a stream that announces
// a codec in its hello carries each PAGE_RANGE's bytes as one CHUNK-framed block (codec, raw and
// stored length) instead of raw pages; encodeRangeHeader / the decoder's data state are the two
// places that would call it. Until then a non-zero codec, like any unknown field, is refused,
// so a compressed stream is never read as raw pages.
import { FramingError } from './errors.js'
import { Field } from './extensions.js'
import { LEN_PREFIX, controlFrame, decodeControl, type KnownFields } from './control-frame.js'
import { REF_HASH_BYTES } from './ext/limits.js'
import { isPagesFile } from './ext/refs.js'
import { checkFileName } from './names.js'

/** 2: PAGE_HELLO names its dump (a version-1 feeder did not, and cannot be checked). */
export const PAGE_STREAM_VERSION = 2
/**
 * PAGE_HELLO's dump identity: which dump the feeder serves, so that a daemon restoring from
 * another dump's images (say, an earlier dump of the same workload: the same pids, the same page
 * count) refuses it instead of copying the wrong memory. Both ends compute it from their images
 * (uffd-serve's images.ts); 16 bytes of a SHA-256 tell dumps apart by accident, which is all it
 * is for: the feeder is trusted.
 */
export const DUMP_ID_BYTES = 16
const HELLO_DUMP_ID = 5
/** PAGE_HELLO's `refs`: set when PAGE_REFs may follow, so a daemon without a base refuses before the restore. */
const HELLO_REFS = 6
const REF_FILE = 5
const REF_FILE_PAGE = 6
/** "pages-4294967295.img" is 20 bytes; with this the longest PAGE_REF marker is 55 bytes, below MAX_PAGE_MARKER_LEN. */
export const MAX_REF_FILE_NAME = 24
/** The index (content/index-file.ts) numbers a file's pages in a u32. */
const MAX_FILE_PAGES = 2 ** 32
export const PAGE_STREAM_PAGE_SIZE = 4096
/** CRIU's MAX_XFER_LEN (4 MiB): the most its page server hands out at once, and uffd-serve's copy buffer. */
export const MAX_RANGE_PAGES = 1024
/** The longest message above is 55 bytes (PAGE_REF with the longest file name); anything longer is damage. */
export const MAX_PAGE_MARKER_LEN = 64
/** x86-64 user space ends below 2^57 even with 5-level page tables. */
const USER_ADDR_LIMIT = 2 ** 57
const MAX_PID = 0x7fffffff

export interface PageRun { pid: number; vaddr: number; nrPages: number }

/** A PAGE_REF: the run's pages are pages `filePage`.. of the base's `file`, whose hashes are `hashes`. */
export interface PageRef extends PageRun {
  requested: boolean
  file: string
  filePage: number
  /** nrPages x REF_HASH_BYTES (empty from decodePageMarker, filled by the decoder). */
  hashes: Buffer
}

export type PageMessage =
  | { kind: 'hello'; version: number; pageSize: number; pages: number; dumpId: Buffer; refs: boolean }
  | { kind: 'push'; credit: number }
  | ({ kind: 'range'; requested: boolean; data: Buffer } & PageRun)
  | ({ kind: 'ref' } & PageRef)
  | ({ kind: 'request' } & PageRun)
  | { kind: 'done'; status: number }

const zigzag = (v: number): number => (v >= 0 ? v * 2 : -v * 2 - 1)
const unzigzag = (v: number): number => (v % 2 === 0 ? v / 2 : -(v + 1) / 2)

function checkRun(r: PageRun, what: string): void {
  if (!Number.isInteger(r.pid) || r.pid < 1 || r.pid > MAX_PID) throw new FramingError(`${what}: bad pid ${r.pid}`)
  if (!Number.isInteger(r.nrPages) || r.nrPages < 1 || r.nrPages > MAX_RANGE_PAGES) {
    throw new FramingError(`${what}: ${r.nrPages} pages (1 to ${MAX_RANGE_PAGES})`)
  }
  if (!Number.isSafeInteger(r.vaddr) || r.vaddr % PAGE_STREAM_PAGE_SIZE !== 0 || r.vaddr < 0 ||
      r.vaddr + r.nrPages * PAGE_STREAM_PAGE_SIZE > USER_ADDR_LIMIT) {
    throw new FramingError(`${what}: bad address 0x${r.vaddr.toString(16)}`)
  }
}

function checkRef(r: Omit<PageRef, 'hashes'>): void {
  checkRun(r, 'PAGE_REF')
  if (Buffer.byteLength(r.file) > MAX_REF_FILE_NAME || !isPagesFile(checkFileName(r.file))) {
    throw new FramingError(`PAGE_REF: base file ${JSON.stringify(r.file)} is not a pages-N.img`)
  }
  if (!Number.isSafeInteger(r.filePage) || r.filePage < 0 || r.filePage + r.nrPages > MAX_FILE_PAGES) {
    throw new FramingError(`PAGE_REF: bad first page ${r.filePage} of ${r.file}`)
  }
}

/** `refs`: PAGE_REFs may follow (page-feed --base-index). */
export function encodeHello(pages: number, dumpId: Buffer, refs = false): Buffer {
  if (dumpId.length !== DUMP_ID_BYTES) throw new FramingError(`PAGE_HELLO: a dump id of ${dumpId.length} bytes, not ${DUMP_ID_BYTES}`)
  return controlFrame(Field.PAGE_HELLO, [[1, PAGE_STREAM_VERSION], [2, PAGE_STREAM_PAGE_SIZE], [3, pages], [HELLO_DUMP_ID, dumpId], [HELLO_REFS, refs ? 1 : 0]])
}

/**
 * Pushed pages are credited, as a window: the feeder pushes only as many pages as the daemon
 * has granted and not yet taken in, so a requested page never queues behind more than a window
 * of pushed ones, however much the channel (a relay, ssh's buffers) would hold.
 */
export function encodePush(creditPages: number): Buffer {
  if (!Number.isSafeInteger(creditPages) || creditPages < 1) throw new FramingError(`PAGE_PUSH: credit ${creditPages}`)
  return controlFrame(Field.PAGE_PUSH, [[1, creditPages]])
}

/** The frame before a range's nr_pages * 4096 bytes, which the caller writes after it. */
export function encodeRangeHeader(r: PageRun, requested: boolean): Buffer {
  checkRun(r, 'PAGE_RANGE')
  return controlFrame(Field.PAGE_RANGE, [[1, r.pid], [2, r.vaddr], [3, r.nrPages], [4, requested ? 1 : 0]])
}

/** The frame before a reference's nr_pages * 32 hash bytes, which the caller writes after it. */
export function encodeRefHeader(r: Omit<PageRef, 'hashes'>): Buffer {
  checkRef(r)
  return controlFrame(Field.PAGE_REF, [[1, r.pid], [2, r.vaddr], [3, r.nrPages], [4, r.requested ? 1 : 0],
    [REF_FILE, Buffer.from(r.file)], [REF_FILE_PAGE, r.filePage]])
}

export function encodeRequest(r: PageRun): Buffer {
  checkRun(r, 'PAGE_REQUEST')
  return controlFrame(Field.PAGE_REQUEST, [[1, r.pid], [2, r.vaddr], [3, r.nrPages]])
}

export function encodeDone(status = 0): Buffer {
  return controlFrame(Field.PAGES_DONE, [[1, zigzag(status)]])
}

const KNOWN_SUB: KnownFields = {
  [Field.PAGE_HELLO]: { varints: [1, 2, 3, 4, HELLO_REFS], bytes: [HELLO_DUMP_ID] },
  [Field.PAGE_PUSH]: { varints: [1] },
  [Field.PAGE_RANGE]: { varints: [1, 2, 3, 4] },
  [Field.PAGE_REQUEST]: { varints: [1, 2, 3] },
  [Field.PAGE_REF]: { varints: [1, 2, 3, 4, REF_FILE_PAGE], bytes: [REF_FILE] },
  [Field.PAGES_DONE]: { varints: [1] },
}

/** A marker without its length prefix; a range (a reference) comes back with an empty `data` (`hashes`), to be filled. */
export function decodePageMarker(buf: Buffer): PageMessage {
  const { field, v: g, bytes } = decodeControl(buf, KNOWN_SUB, 'page stream')
  if (g(4) > 1 && field !== Field.PAGE_HELLO) throw new FramingError(`page stream: requested is ${g(4)}`)
  if (field === Field.PAGE_REF) {
    const ref = { pid: g(1), vaddr: g(2), nrPages: g(3), requested: g(4) === 1, file: bytes.get(REF_FILE)?.toString('latin1') ?? '', filePage: g(REF_FILE_PAGE) }
    try {
      checkRef(ref)
    } catch (e) {
      throw new FramingError(`page stream: ${(e as Error).message}`)
    }
    return { kind: 'ref', ...ref, hashes: Buffer.alloc(0) }
  }
  const id = bytes.get(HELLO_DUMP_ID)
  if (id !== undefined && id.length !== DUMP_ID_BYTES) throw new FramingError(`page stream: a dump id of ${id.length} bytes, not ${DUMP_ID_BYTES}`)
  const dumpId = id && Buffer.from(id)
  switch (field) {
    case Field.PAGE_HELLO: {
      if (g(1) !== PAGE_STREAM_VERSION) throw new FramingError(`page stream version ${g(1)}, this build reads ${PAGE_STREAM_VERSION}`)
      if (g(2) !== PAGE_STREAM_PAGE_SIZE) throw new FramingError(`page stream of ${g(2)}-byte pages, this build knows ${PAGE_STREAM_PAGE_SIZE}`)
      if (g(4) !== 0) throw new FramingError(`page stream compressed with codec ${g(4)}: this build reads raw pages only`)
      if (dumpId === undefined) throw new FramingError('page stream: PAGE_HELLO names no dump')
      if (g(HELLO_REFS) > 1) throw new FramingError(`page stream: PAGE_HELLO refs is ${g(HELLO_REFS)}`)
      return { kind: 'hello', version: g(1), pageSize: g(2), pages: g(3), dumpId, refs: g(HELLO_REFS) === 1 }
    }
    case Field.PAGE_PUSH:
      if (g(1) < 1) throw new FramingError('page stream: PAGE_PUSH without credit')
      return { kind: 'push', credit: g(1) }
    case Field.PAGE_RANGE:
    case Field.PAGE_REQUEST: {
      const run = { pid: g(1), vaddr: g(2), nrPages: g(3) }
      checkRun(run, field === Field.PAGE_RANGE ? 'PAGE_RANGE' : 'PAGE_REQUEST')
      return field === Field.PAGE_RANGE
        ? { kind: 'range', ...run, requested: g(4) === 1, data: Buffer.alloc(0) }
        : { kind: 'request', ...run }
    }
    default:
      return { kind: 'done', status: unzigzag(g(1)) }
  }
}

type Body = Extract<PageMessage, { kind: 'range' | 'ref' }>
const bodyOf = (m: Body): Buffer => (m.kind === 'range' ? m.data : m.hashes)

/**
 * Incremental decoder: feed it whatever the channel gave, get whole messages back. A range's
 * bytes (a reference's hashes) are collected into a buffer of exactly their size, allocated only
 * after its marker passed every check.
 */
export class PageStreamDecoder {
  private readonly head = Buffer.alloc(LEN_PREFIX + MAX_PAGE_MARKER_LEN)
  private headLen = 0
  private range: Body | undefined
  private got = 0
  /** Bytes of page data (PAGE_RANGE's, not PAGE_REF's hashes) taken in so far: for rate and progress lines. */
  dataBytes = 0

  /** Appends the messages completed by `chunk` to `out`. Throws FramingError on damage. */
  decode(chunk: Buffer, out: PageMessage[]): void {
    let off = 0
    while (off < chunk.length) {
      if (this.range !== undefined) {
        const body = bodyOf(this.range)
        const n = Math.min(chunk.length - off, body.length - this.got)
        chunk.copy(body, this.got, off, off + n)
        this.got += n
        if (this.range.kind === 'range') this.dataBytes += n
        off += n
        if (this.got === body.length) { out.push(this.range); this.range = undefined }
        continue
      }
      const need = this.headLen < LEN_PREFIX ? LEN_PREFIX : LEN_PREFIX + this.head.readUInt32LE(0)
      const n = Math.min(chunk.length - off, need - this.headLen)
      chunk.copy(this.head, this.headLen, off, off + n)
      this.headLen += n
      off += n
      if (this.headLen === LEN_PREFIX) {
        const len = this.head.readUInt32LE(0)
        if (len === 0 || len > MAX_PAGE_MARKER_LEN) throw new FramingError(`page stream: marker of ${len} bytes (1 to ${MAX_PAGE_MARKER_LEN}): not a page stream, or damaged`)
        continue
      }
      if (this.headLen < need) continue
      const m = decodePageMarker(this.head.subarray(LEN_PREFIX, need))
      this.headLen = 0
      if (m.kind === 'range' || m.kind === 'ref') {
        if (m.kind === 'range') m.data = Buffer.allocUnsafe(m.nrPages * PAGE_STREAM_PAGE_SIZE)
        else m.hashes = Buffer.allocUnsafe(m.nrPages * REF_HASH_BYTES)
        this.range = m
        this.got = 0
      } else {
        out.push(m)
      }
    }
  }

  /** Between messages: an EOF here is a clean end, anywhere else a truncation. */
  get atBoundary(): boolean {
    return this.headLen === 0 && this.range === undefined
  }
}
