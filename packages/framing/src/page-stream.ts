// The post-copy page stream: lazy pages one way, requests the other, over ONE bidirectional
// channel (ssh, socat, a pipe pair). Every message is a shard-format frame, `[u32 LE length]
// [marker]`, whose marker holds exactly one page-stream field of extensions.ts, message-valued
// (wire type 2), its sub-fields varints:
//
//   feeder -> daemon
//     PAGE_HELLO   {1 version, 2 page_size, 3 pages, 4 codec,   first message: what is to come,
//                   5 dump (16 bytes)}                          and of which dump (see DUMP_ID_BYTES)
//     PAGE_RANGE   {1 pid, 2 vaddr, 3 nr_pages, 4 requested}    then nr_pages * 4096 raw bytes
//     PAGES_DONE   {1 status (zigzag)}                          the page-server session is closed
//   daemon -> feeder
//     PAGE_PUSH    {1 credit}                                   push up to `credit` more pages (the
//                                                               first one: the restore has finished)
//     PAGE_REQUEST {1 pid, 2 vaddr, 3 nr_pages}                 a fault wants these first
//     PAGES_DONE   {}                                           every page arrived: close in order
//
// pid is the pid in the images, vaddr the dump-time address (what CRIU's page server knows).
// Every limit is checked before anything is allocated: a marker is at most MAX_PAGE_MARKER_LEN
// bytes, a range at most MAX_RANGE_PAGES pages.
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
export const PAGE_STREAM_PAGE_SIZE = 4096
/** CRIU's MAX_XFER_LEN (4 MiB): the most its page server hands out at once, and uffd-serve's copy buffer. */
export const MAX_RANGE_PAGES = 1024
/** The longest message above is about 40 bytes (PAGE_HELLO with its dump id); anything longer is damage. */
export const MAX_PAGE_MARKER_LEN = 64
/** x86-64 user space ends below 2^57 even with 5-level page tables. */
const USER_ADDR_LIMIT = 2 ** 57
const MAX_PID = 0x7fffffff

export interface PageRun { pid: number; vaddr: number; nrPages: number }

export type PageMessage =
  | { kind: 'hello'; version: number; pageSize: number; pages: number; dumpId: Buffer }
  | { kind: 'push'; credit: number }
  | ({ kind: 'range'; requested: boolean; data: Buffer } & PageRun)
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

export function encodeHello(pages: number, dumpId: Buffer): Buffer {
  if (dumpId.length !== DUMP_ID_BYTES) throw new FramingError(`PAGE_HELLO: a dump id of ${dumpId.length} bytes, not ${DUMP_ID_BYTES}`)
  return controlFrame(Field.PAGE_HELLO, [[1, PAGE_STREAM_VERSION], [2, PAGE_STREAM_PAGE_SIZE], [3, pages], [HELLO_DUMP_ID, dumpId]])
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

export function encodeRequest(r: PageRun): Buffer {
  checkRun(r, 'PAGE_REQUEST')
  return controlFrame(Field.PAGE_REQUEST, [[1, r.pid], [2, r.vaddr], [3, r.nrPages]])
}

export function encodeDone(status = 0): Buffer {
  return controlFrame(Field.PAGES_DONE, [[1, zigzag(status)]])
}

const KNOWN_SUB: KnownFields = {
  [Field.PAGE_HELLO]: { varints: [1, 2, 3, 4], bytes: [HELLO_DUMP_ID] },
  [Field.PAGE_PUSH]: { varints: [1] },
  [Field.PAGE_RANGE]: { varints: [1, 2, 3, 4] },
  [Field.PAGE_REQUEST]: { varints: [1, 2, 3] },
  [Field.PAGES_DONE]: { varints: [1] },
}

/** A marker without its length prefix; a range comes back with an empty `data`, to be filled. */
export function decodePageMarker(buf: Buffer): PageMessage {
  const { field, v: g, bytes } = decodeControl(buf, KNOWN_SUB, 'page stream')
  const id = bytes.get(HELLO_DUMP_ID)
  if (id !== undefined && id.length !== DUMP_ID_BYTES) throw new FramingError(`page stream: a dump id of ${id.length} bytes, not ${DUMP_ID_BYTES}`)
  const dumpId = id && Buffer.from(id)
  switch (field) {
    case Field.PAGE_HELLO: {
      if (g(1) !== PAGE_STREAM_VERSION) throw new FramingError(`page stream version ${g(1)}, this build reads ${PAGE_STREAM_VERSION}`)
      if (g(2) !== PAGE_STREAM_PAGE_SIZE) throw new FramingError(`page stream of ${g(2)}-byte pages, this build knows ${PAGE_STREAM_PAGE_SIZE}`)
      if (g(4) !== 0) throw new FramingError(`page stream compressed with codec ${g(4)}: this build reads raw pages only`)
      if (dumpId === undefined) throw new FramingError('page stream: PAGE_HELLO names no dump')
      return { kind: 'hello', version: g(1), pageSize: g(2), pages: g(3), dumpId }
    }
    case Field.PAGE_PUSH:
      if (g(1) < 1) throw new FramingError('page stream: PAGE_PUSH without credit')
      return { kind: 'push', credit: g(1) }
    case Field.PAGE_RANGE:
    case Field.PAGE_REQUEST: {
      const run = { pid: g(1), vaddr: g(2), nrPages: g(3) }
      if (g(4) > 1) throw new FramingError(`page stream: PAGE_RANGE requested is ${g(4)}`)
      checkRun(run, field === Field.PAGE_RANGE ? 'PAGE_RANGE' : 'PAGE_REQUEST')
      return field === Field.PAGE_RANGE
        ? { kind: 'range', ...run, requested: g(4) === 1, data: Buffer.alloc(0) }
        : { kind: 'request', ...run }
    }
    default:
      return { kind: 'done', status: unzigzag(g(1)) }
  }
}

/**
 * Incremental decoder: feed it whatever the channel gave, get whole messages back. A range's
 * bytes are collected into a buffer of exactly its size, allocated only after its marker passed
 * every check.
 */
export class PageStreamDecoder {
  private readonly head = Buffer.alloc(LEN_PREFIX + MAX_PAGE_MARKER_LEN)
  private headLen = 0
  private range: Extract<PageMessage, { kind: 'range' }> | undefined
  private got = 0
  /** Bytes of page data taken in so far: for rate and progress lines. */
  dataBytes = 0

  /** Appends the messages completed by `chunk` to `out`. Throws FramingError on damage. */
  decode(chunk: Buffer, out: PageMessage[]): void {
    let off = 0
    while (off < chunk.length) {
      if (this.range !== undefined) {
        const n = Math.min(chunk.length - off, this.range.data.length - this.got)
        chunk.copy(this.range.data, this.got, off, off + n)
        this.got += n
        this.dataBytes += n
        off += n
        if (this.got === this.range.data.length) { out.push(this.range); this.range = undefined }
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
      if (m.kind === 'range') {
        m.data = Buffer.allocUnsafe(m.nrPages * PAGE_STREAM_PAGE_SIZE)
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
