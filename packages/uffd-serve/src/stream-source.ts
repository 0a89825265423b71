// Pages from a page stream (framing's page-stream.ts): the feeder on the source host pushes
// every lazy page in address order once the restore has finished, and answers our requests
// first. One bidirectional channel: a pair of fds (a socket, a socat, a pipe pair) or the stdin and
// stdout of a command (`ssh src page-feed ...`); nothing listens on the source.
//
// Memory bound: pages are held from their arrival until every process that owes them has them.
// The daemon copies what arrives in the same round it was read, so what is held is at most one
// pump (PUMP_BYTES) plus the ranges whose copy the kernel deferred (EAGAIN while an event is
// pending; retried as soon as the events are read). Pushed pages nobody owes any more (unmapped,
// or already copied in answer to a fault) are dropped at once.
//
// With a base (--base DIR, the hybrid's lazy final round), a PAGE_REF is held as its hashes only;
// its pages are read from the base and checked when they are copied (base-pages.ts).
import type { ChildProcess } from 'node:child_process'
import { PAGE_SIZE } from '@criu-pipes/criu-image'
import {
  FramingError, MAX_RANGE_PAGES, PageStreamDecoder, encodeDone, encodePush, encodeRequest,
} from '@criu-pipes/framing'
import type { PageMessage, PageRef } from '@criu-pipes/framing'
import { SysError, closeQuietly, readSome, setNonBlocking, waitReadable } from '@criu-pipes/sys'
import type { CheckedDir, Region } from '@criu-pipes/sys'
import { WriteQueue, commandExit, spawnChannel } from '@criu-pipes/lazy-pages'
import type { Arrival, PageSource, PageStream } from '@criu-pipes/lazy-pages'
import { BasePages } from './base-pages.js'

/** One read(2) of the channel: 1 MiB, a few ssh packets' worth up to a quarter of a 4 MiB range. */
const READ_BYTES = 1 << 20
/** Per loop round at most this much is read, so faults and events are never kept waiting long. */
const PUMP_BYTES = 4 << 20
/** How long the feeder may take to close the source's page-server session after PAGES_DONE. */
const CLOSE_WAIT_MS = 30_000
const ECONNRESET = 104
const STDERR_FD = 2
/**
 * The push window: pushed pages in the channel at most (granted, not yet taken in). It bounds
 * how long a requested page can queue behind pushed ones (16 MiB: 16 ms at 1 GB/s) and caps the
 * push at a window per round trip (800 MB/s at 20 ms; CRIU's daemon: 4 MiB per round trip).
 * Taken-in pages are granted again a quarter window at a time, so the channel never runs dry.
 */
export const PUSH_WINDOW_PAGES = (16 << 20) / PAGE_SIZE
const REGRANT_PAGES = PUSH_WINDOW_PAGES / 4

/** The channel closed, broke, or carried something that is not a page stream. */
export class StreamLostError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'StreamLostError'
  }
}

/** Arrived pages: their bytes, or a reference to the base's. */
interface Held {
  img: number
  end: number
  data: Buffer | PageRef
}

export interface StreamSourceOptions {
  /**
   * The base the feeder's PAGE_REFs point into (uffd-serve --base DIR): a directory the caller
   * opened with openPrivateDir and closes. Without it a feeder that sends references is refused.
   */
  base?: CheckedDir
}

export class StreamSource implements PageSource, PageStream {
  readonly stream: PageStream = this
  private readonly decoder = new PageStreamDecoder()
  private readonly inBuf = Buffer.allocUnsafe(READ_BYTES)
  private readonly held = new Map<number, Held[]>()
  private readonly out: WriteQueue
  private early: PageMessage[] = []
  private ended = false
  private pushed = 0
  /** Pushed pages taken in since the last grant. */
  private ungranted = 0
  private answered = 0
  private requests = 0
  private requestedPages = 0
  private heldPages = 0
  private peakHeldPages = 0
  private refPages = 0
  private readonly base: BasePages | undefined

  private constructor(readonly name: string, readonly readFd: number, readonly writeFd: number,
    opts: StreamSourceOptions, private readonly command?: ChildProcess) {
    this.base = opts.base !== undefined ? new BasePages(opts.base) : undefined
    setNonBlocking(readFd, true)
    setNonBlocking(writeFd, true)
    this.out = new WriteQueue(writeFd, (code) => new StreamLostError(`${this.name}: the feeder's end is closed (${code})`))
  }

  /** Over fds we were given (--pages-fds R,W); R and W may be the same socket. */
  static overFds(readFd: number, writeFd: number, opts: StreamSourceOptions = {}): StreamSource {
    return new StreamSource(`page stream on fds ${readFd},${writeFd}`, readFd, writeFd, opts)
  }

  /** Over the stdout and stdin of `sh -c CMD` (--pages-from-cmd), its stderr ours. */
  static fromCommand(cmd: string, opts: StreamSourceOptions = {}): StreamSource {
    const { readFd, writeFd, child } = spawnChannel(cmd)
    return new StreamSource(`page stream from \`${cmd}\``, readFd, writeFd, opts, child)
  }

  /**
   * Waits for the feeder's PAGE_HELLO and checks that it serves the dump of the images here (its
   * dump id, see images.ts) and as many lazy pages as they describe: another dump's feeder would
   * hand out the wrong memory. Synchronous.
   */
  hello(expect: { pages: number; dumpId: Buffer }, timeoutMs: number): void {
    const deadline = performance.now() + timeoutMs
    while (this.early.length === 0) {
      const left = deadline - performance.now()
      if (left <= 0 || waitReadable(this.readFd, Math.ceil(left)) === 0) {
        throw new StreamLostError(`${this.name}: no PAGE_HELLO within ${timeoutMs / 1000} s`)
      }
      if (this.readInto(this.early) === 'eof') throw new StreamLostError(`${this.name} closed before its PAGE_HELLO (see the feeder's error above)`)
    }
    const first = this.early.shift()!
    if (first.kind !== 'hello') throw new StreamLostError(`${this.name}: starts with ${first.kind}, not PAGE_HELLO: not a page feeder`)
    if (!first.dumpId.equals(expect.dumpId)) {
      throw new StreamLostError(`${this.name} serves dump ${first.dumpId.toString('hex')}, the images here are dump ${expect.dumpId.toString('hex')}: not the same dump`)
    }
    if (first.pages !== expect.pages) {
      throw new StreamLostError(`${this.name} serves ${first.pages} lazy pages, the images here describe ${expect.pages}: not the same dump`)
    }
    if (first.refs && this.base === undefined) throw this.noBase()
  }

  /** One read; appends the messages it completed. */
  private readInto(out: PageMessage[]): 'eof' | 'again' | 'data' {
    let n: number
    try {
      n = readSome(this.readFd, this.inBuf)
    } catch (e) {
      if (e instanceof SysError && e.errno === ECONNRESET) return 'eof'
      throw e
    }
    if (n < 0) return 'again'
    if (n === 0) {
      if (!this.decoder.atBoundary) throw new StreamLostError(`${this.name} ended inside a message (truncated)`)
      return 'eof'
    }
    try {
      this.decoder.decode(this.inBuf.subarray(0, n), out)
    } catch (e) {
      if (e instanceof FramingError) throw new StreamLostError(`${this.name}: ${e.message}`)
      throw e
    }
    return 'data'
  }

  private noBase(): StreamLostError {
    return new StreamLostError(`${this.name} sends pages as references to a base (page-feed --base-index), and there is no --base to read them from`)
  }

  pump(): { arrivals: Arrival[]; eof: boolean } {
    const msgs = this.early
    this.early = []
    const start = this.decoder.dataBytes
    while (!this.ended && this.decoder.dataBytes - start < PUMP_BYTES) {
      const r = this.readInto(msgs)
      if (r === 'again') break
      if (r === 'eof') this.ended = true
    }
    const eof = this.ended
    const arrivals: Arrival[] = []
    for (const m of msgs) {
      if (m.kind !== 'range' && m.kind !== 'ref') throw new StreamLostError(`${this.name}: unexpected ${m.kind} message from the feeder`)
      if (m.kind === 'ref') {
        if (this.base === undefined) throw this.noBase()
        this.refPages += m.nrPages
      }
      const nrPages = m.nrPages
      if (m.requested) this.answered += nrPages
      else {
        this.pushed += nrPages
        this.ungranted += nrPages
      }
      let list = this.held.get(m.pid)
      if (list === undefined) this.held.set(m.pid, (list = []))
      list.push({ img: m.vaddr, end: m.vaddr + nrPages * PAGE_SIZE, data: m.kind === 'range' ? m.data : m })
      this.heldPages += nrPages
      arrivals.push({ pid: m.pid, img: m.vaddr, nrPages })
    }
    this.peakHeldPages = Math.max(this.peakHeldPages, this.heldPages)
    if (this.ungranted >= REGRANT_PAGES && !eof) {
      this.send(encodePush(this.ungranted))
      this.ungranted = 0
    }
    return { arrivals, eof }
  }

  read(pid: number, imgAddr: number, nrPages: number, dst: Region): number {
    const h = this.held.get(pid)?.find((x) => x.img <= imgAddr && imgAddr < x.end)
    if (h === undefined) return 0
    const pages = Math.min(nrPages, (h.end - imgAddr) / PAGE_SIZE, dst.length / PAGE_SIZE)
    const from = imgAddr - h.img
    if (Buffer.isBuffer(h.data)) h.data.copy(dst.buffer(0, pages * PAGE_SIZE), 0, from, from + pages * PAGE_SIZE)
    else this.base!.read(h.data, from / PAGE_SIZE, dst.buffer(0, pages * PAGE_SIZE))
    return pages
  }

  request(pid: number, img: number, nrPages: number): void {
    const n = Math.min(nrPages, MAX_RANGE_PAGES)
    this.requests++
    this.requestedPages += n
    this.send(encodeRequest({ pid, vaddr: img, nrPages: n }))
  }

  startPush(): void {
    this.send(encodePush(PUSH_WINDOW_PAGES))
  }

  heldRuns(pid: number): Arrival[] {
    return (this.held.get(pid) ?? []).map((h) => ({ pid, img: h.img, nrPages: (h.end - h.img) / PAGE_SIZE }))
  }

  release(needed: (pid: number, imgStart: number, imgEnd: number) => boolean): void {
    for (const [pid, list] of this.held) {
      const keep = list.filter((h) => needed(pid, h.img, h.end))
      for (const h of list) if (!keep.includes(h)) this.heldPages -= (h.end - h.img) / PAGE_SIZE
      if (keep.length === 0) this.held.delete(pid)
      else this.held.set(pid, keep)
    }
  }

  private send(b: Buffer): void {
    this.out.push(b)
    this.out.flush()
  }

  wantsWrite(): boolean {
    return this.out.pending
  }

  flush(): void {
    this.out.flush()
  }

  summary(): string {
    return `${this.name}: ${this.pushed} pages pushed, ${this.answered} pages sent for ` +
      `${this.requests} fault requests (${this.requestedPages} pages asked)` +
      (this.base !== undefined ? `, ${this.refPages} of them as references to the base` : '') +
      `; at most ${this.peakHeldPages} pages held`
  }

  /** Counters for tests and the bench. */
  get counts(): { pushed: number; answered: number; requests: number; peakHeldPages: number; refPages: number } {
    return { pushed: this.pushed, answered: this.answered, requests: this.requests, peakHeldPages: this.peakHeldPages, refPages: this.refPages }
  }

  /**
   * Every page is in place: PAGES_DONE upstream, then wait for the feeder's PAGES_DONE (it has
   * closed the source's page-server session in order, so the source dump kills the original).
   * Ranges still in the channel are dropped. Throws if the feeder does not confirm.
   */
  close(): void {
    try {
      if (this.ended) throw new Error(`${this.name} closed before the end: the source dump was not told that every page arrived`)
      this.out.push(encodeDone())
      this.out.drain()
      const deadline = performance.now() + CLOSE_WAIT_MS
      for (;;) {
        const msgs: PageMessage[] = []
        const left = deadline - performance.now()
        if (left <= 0 || waitReadable(this.readFd, Math.ceil(left)) === 0) throw new Error(`${this.name}: no PAGES_DONE within ${CLOSE_WAIT_MS / 1000} s of ours`)
        const eof = this.readInto(msgs) === 'eof'
        const done = msgs.find((m) => m.kind === 'done')
        if (done?.kind === 'done') {
          if (done.status !== 0) throw new Error(`the source's page server answered PS_IOV_CLOSE with ${done.status}`)
          return
        }
        if (eof) throw new Error(`${this.name} closed without confirming PAGES_DONE: the source dump may have resumed the original`)
      }
    } finally {
      this.closeFds()
    }
  }

  abort(): void {
    this.closeFds()
    if (this.command !== undefined && this.command.exitCode === null) this.command.kill('SIGTERM')
  }

  /** Closes the channel's fds, but never 0-2 (--pages-fds 0,1 under ssh): Node still flushes them at exit. */
  private closeFds(): void {
    for (const fd of new Set([this.readFd, this.writeFd])) if (fd > STDERR_FD) closeQuietly(fd)
    this.held.clear()
    this.base?.close()
  }

  /** Resolves when the command (if any) has exited, or after `ms`; its exit code, or undefined. */
  async commandExit(ms: number): Promise<number | null | undefined> {
    return this.command === undefined ? undefined : commandExit(this.command, ms)
  }
}
