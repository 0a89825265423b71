// The source side of post-copy over one channel: a client of the frozen source's lazy page
// server (`criu dump --lazy-pages --port P`, on the loopback) that writes every lazy page as a
// page stream on its output, in address order and as fast as the channel takes it, while it
// reads requests on its input and answers each before anything else it has queued.
//
// Every lazy page is fetched from the page server and sent exactly once: a request for pages
// already sent is dropped, since they are in the channel and the daemon owes them until they
// arrive (CRIU's server may not serve a page twice anyway). The end decides the source's fate:
//   PAGES_DONE from the daemon  -> PS_IOV_CLOSE: the dump kills the frozen original; we confirm
//                                  with our own PAGES_DONE and close the channel
//   the channel closes or breaks -> the session is dropped without PS_IOV_CLOSE: the dump
//                                  resumes the original, and nothing is lost
// With a base (--base-index: the hybrid's lazy final round), pages the destination's base holds
// go as PAGE_REF, their hashes instead of their bytes (page-refs.ts); uffd-serve --base reads them
// from its own disk and checks each against its hash.
import { PAGE_SIZE } from '@criu-pipes/criu-image'
import { PageStreamDecoder, REF_HASH_BYTES, encodeDone, encodeHello, encodeRangeHeader, encodeRefHeader } from '@criu-pipes/framing'
import type { ContentIndex, PageMessage } from '@criu-pipes/framing'
import { POLLIN, POLLOUT, Region, SysError, poll, readSome, setNonBlocking, writeAll } from '@criu-pipes/sys'
import type { PollRequest } from '@criu-pipes/sys'
import { LOG_DEBUG, LazyRanges, MAX_CHUNK, PushThrottle, WriteQueue } from '@criu-pipes/lazy-pages'
import type { ImageSet, LazyRange, Log, PageServerSource } from '@criu-pipes/lazy-pages'
import { PageRefs } from './page-refs.js'

/**
 * Background chunk: 1 MiB. A request waits behind at most the rest of one chunk in our own
 * buffer (plus whatever the channel buffers: pipe, socket, ssh window), while the page server's
 * per-GET cost (a loopback round trip) stays small against the chunk's transfer.
 */
export const PUSH_CHUNK = 1 << 20
const IN_BYTES = 64 << 10
const ECONNRESET = 104

/** The channel closed or broke before the daemon said every page had arrived. */
export class ChannelLostError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ChannelLostError'
  }
}

export interface FeedStats {
  pushedPages: number
  answeredPages: number
  requests: number
  /** Requests for pages already sent (in the channel when asked for). */
  lateRequests: number
  /** The page server's answer to PS_IOV_CLOSE. */
  closeStatus: number
  /** Of the pages pushed and answered: sent as references to the destination's base (PAGE_REF), and in how many. */
  refPages: number
  refs: number
}

export interface FeederOptions {
  /** Push limit in bytes per second (requests are never held back). */
  maxRate?: number
  /**
   * The content index of the round the destination holds as its base (img-split --index-out,
   * read with readIndex): pages it holds go as PAGE_REF. The destination needs that base
   * (uffd-serve --base); the PAGE_HELLO says so, and a daemon without one refuses at once.
   */
  base?: ContentIndex
  /** Called once, when the daemon's first PAGE_PUSH says the restore finished: the process runs there. */
  onRestored?: () => void
  /** Called after each piece put on the channel, with the page bytes (and references) sent so far: for a progress display. */
  onSent?: (bytes: number) => void
}

interface Piece {
  pid: number
  range: LazyRange
}

export class Feeder {
  private readonly unsent = new Map<number, LazyRanges>()
  /** Pieces taken out of `unsent` for requests, sent before anything else. */
  private readonly urgent: Piece[] = []
  private readonly decoder = new PageStreamDecoder()
  private readonly inBuf = Buffer.allocUnsafe(IN_BYTES)
  private readonly buf = new Region(MAX_CHUNK)
  private readonly out: WriteQueue
  /** Pages the daemon lets us push now (PAGE_PUSH credits, less what went since). */
  private credit = 0
  private readonly throttle: PushThrottle
  private readonly stats: FeedStats = { pushedPages: 0, answeredPages: 0, requests: 0, lateRequests: 0, closeStatus: 0, refPages: 0, refs: 0 }
  private readonly refs: PageRefs | undefined
  private sentBytes = 0

  constructor(images: ImageSet, private readonly server: PageServerSource, private readonly inFd: number,
    private readonly outFd: number, private readonly log: Log, private readonly opts: FeederOptions = {}) {
    const { maxRate, base } = opts
    for (const t of images.tasks.values()) if (t.lazy.length > 0) this.unsent.set(t.pid, new LazyRanges(t.lazy))
    this.throttle = new PushThrottle(maxRate)
    this.refs = base !== undefined ? new PageRefs(base, MAX_CHUNK / PAGE_SIZE) : undefined
    setNonBlocking(inFd, true)
    setNonBlocking(outFd, true)
    this.out = new WriteQueue(outFd, (code) => new ChannelLostError(`the channel broke (${code}) before the destination had every page`))
    const pages = [...images.tasks.values()].reduce((n, t) => n + t.lazyPages, 0)
    this.out.push(encodeHello(pages, images.dumpId, base !== undefined))
    log.info(`page-feed: ${pages} lazy pages of ${this.unsent.size} processes to send` +
      (base !== undefined ? `, by reference where the base's ${base.count} indexed pages hold them` : ''))
  }

  /** Runs until the daemon's PAGES_DONE (returns) or the channel's loss (throws ChannelLostError). */
  run(): FeedStats {
    try {
      for (;;) {
        const producible = this.urgent.length > 0 || (this.credit > 0 && this.anyUnsent())
        const wait = !this.out.pending && this.urgent.length === 0 && producible ? this.throttle.waitMs() : 0
        const wantOut = this.out.pending || (producible && wait === 0)
        const reqs: PollRequest[] = [{ fd: this.inFd, events: POLLIN }]
        if (wantOut) reqs.push({ fd: this.outFd, events: POLLOUT })
        this.log.flush()
        const rev = poll(reqs, wait > 0 ? wait : -1)
        if (rev[0]! !== 0 && this.onInput()) return this.finish()
        if (wantOut && rev[1]! !== 0) this.onWritable()
      }
    } finally {
      this.buf.unmap()
    }
  }

  private anyUnsent(): boolean {
    for (const r of this.unsent.values()) if (!r.isEmpty()) return true
    return false
  }

  /** Reads requests and control messages; true once PAGES_DONE came. */
  private onInput(): boolean {
    let n: number
    try {
      n = readSome(this.inFd, this.inBuf)
    } catch (e) {
      if (e instanceof SysError && e.errno === ECONNRESET) n = 0
      else throw e
    }
    if (n < 0) return false
    if (n === 0) throw new ChannelLostError('the channel closed before the destination had every page')
    const msgs: PageMessage[] = []
    this.decoder.decode(this.inBuf.subarray(0, n), msgs)
    for (const m of msgs) {
      switch (m.kind) {
        case 'request': this.onRequest(m.pid, m.vaddr, m.nrPages); break
        case 'push':
          if (this.credit === 0 && this.stats.pushedPages === 0) {
            this.log.info(`page-feed: the restore finished, pushing (window ${m.credit} pages)`)
            this.opts.onRestored?.()
          }
          this.credit += m.credit
          break
        case 'done': return true
        default: throw new Error(`unexpected ${m.kind} message from the destination`)
      }
    }
    return false
  }

  private onRequest(pid: number, vaddr: number, nrPages: number): void {
    this.stats.requests++
    const pieces = this.unsent.get(pid)?.take(vaddr, vaddr + nrPages * PAGE_SIZE) ?? []
    if (pieces.length === 0) this.stats.lateRequests++
    if (this.log.enabled(LOG_DEBUG)) this.log.debug(`page-feed: request ${pid} 0x${vaddr.toString(16)} x${nrPages}: ${pieces.length} pieces unsent`)
    // In arrival order: each has a thread waiting on it.
    this.urgent.push(...pieces.map((range) => ({ pid, range })))
  }

  private onWritable(): void {
    if (!this.out.pending) this.produce()
    this.out.flush()
  }

  /** Fetches the next piece (requests first, then the push) into `buf` and queues its frame. */
  private produce(): void {
    let piece = this.urgent.shift()
    const requested = piece !== undefined
    if (piece === undefined) {
      if (this.credit === 0 || this.throttle.waitMs() > 0) return
      for (const [pid, ranges] of this.unsent) {
        const first = ranges.first()
        if (first === undefined) continue
        const [r] = ranges.take(first.start, Math.min(first.end, first.start + Math.min(PUSH_CHUNK, this.credit * PAGE_SIZE)))
        piece = { pid, range: r! }
        break
      }
      if (piece === undefined) return
    }
    const { pid, range } = piece
    const want = Math.min((range.end - range.start) / PAGE_SIZE, MAX_CHUNK / PAGE_SIZE)
    const got = this.server.read(pid, range.img, want, this.buf)
    const len = got * PAGE_SIZE
    if (range.start + len < range.end) {
      const rest = { start: range.start + len, end: range.end, img: range.img + len }
      if (requested) this.urgent.unshift({ pid, range: rest })
      else this.unsent.get(pid)!.insert(rest)
    }
    const data = this.buf.buffer(0, len)
    const pieces = this.refs?.split(data, got) ?? [{ first: 0, pages: got }]
    let wire = 0
    for (const p of pieces) {
      const vaddr = range.img + p.first * PAGE_SIZE
      if (p.ref === undefined) {
        this.out.push(encodeRangeHeader({ pid, vaddr, nrPages: p.pages }, requested), data.subarray(p.first * PAGE_SIZE, (p.first + p.pages) * PAGE_SIZE))
      } else {
        this.out.push(encodeRefHeader({ pid, vaddr, nrPages: p.pages, requested, ...p.ref }),
          this.refs!.hashes.subarray(p.first * REF_HASH_BYTES, (p.first + p.pages) * REF_HASH_BYTES))
        this.stats.refs++
        this.stats.refPages += p.pages
      }
      wire += PageRefs.bytesOf(p)
    }
    if (requested) this.stats.answeredPages += got
    else {
      this.stats.pushedPages += got
      this.credit -= got
      this.throttle.spent(wire)
    }
    this.sentBytes += wire
    this.opts.onSent?.(this.sentBytes)
  }

  /**
   * The destination has every page: finish the frame in progress, close the page-server session
   * in order (the dump kills the original now), confirm, close the channel.
   */
  private finish(): FeedStats {
    this.out.drain()
    this.stats.closeStatus = this.server.closeSession()
    writeAll(this.outFd, encodeDone(this.stats.closeStatus))
    return this.stats
  }
}
