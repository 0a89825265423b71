// The one loop (criu/uffd.c handle_requests): poll the restore socket and every uffd; handle what
// is pending; retry copies the kernel refused; only when nothing was pending, and after FTSR,
// push the lowest lazy range of the first process that has one, in growing chunks. A process
// whose memory is all there is let go (its uffd closed); the daemon is done when all are, and
// FTSR has been seen. With a page stream the source pushes instead: at FTSR the feeder is told to
// start, and what arrives is copied into every process that still owes it.
import { POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, Region, UFFD_MSG_SIZE, closeQuietly, decodeUffdMsg, poll, readSome } from '@criu-pipes/sys'
import type { PollRequest } from '@criu-pipes/sys'
import { PAGE_SIZE } from '@criu-pipes/criu-image'
import { LazyRanges, MAX_CHUNK, PushThrottle } from '@criu-pipes/lazy-pages'
import { handleMessage } from './events.js'
import { RestoredTree } from './fail-stop.js'
import { RestoreChannel, RestoreProtocolError } from './handshake.js'
import type { Sender } from './handshake.js'
import type { Arrival, ImageSet, Log, PageSource, PageStream } from '@criu-pipes/lazy-pages'
import { LazyProcess } from './lazy-process.js'
import { StreamLostError } from './stream-source.js'
import { Transfer } from './transfer.js'
import type { Outcome } from './transfer.js'

/** Messages read from one uffd per round: enough to batch, few enough that a busy process
 * cannot keep the others' events (which block their threads) waiting. */
const MSGS_PER_READ = 16
/** When retries made no progress (the event that blocks them is not readable yet), wait this
 * long instead of spinning. */
const STALL_WAIT_MS = 1

export interface DaemonStats {
  processes: number
  copied: number
  zeroed: number
  total: number
  /** Microseconds from accept to FTSR. */
  restoreUs: number
  /** Microseconds from accept to the end. */
  totalUs: number
}

export interface DaemonOptions {
  /** Bytes per second for background push; undefined: as fast as it goes. */
  maxPushRate?: number
  /**
   * Called when the daemon fails while processes still owe pages, BEFORE their uffds are closed
   * (from then on the kernel would answer their faults with zero pages). Returns the error to
   * throw instead (fail-stop.ts kills `tree`, the processes of this restore, here).
   */
  onFailure?: (err: Error, owed: OwedPages[], tree: RestoredTree) => Error
}

/** A process that still misses pages when the daemon stops. */
export interface OwedPages {
  pid: number
  pages: number
}

export class Daemon {
  private readonly live: LazyProcess[] = []
  private readonly done: LazyProcess[] = []
  private readonly xfer: Transfer
  private readonly buf: Region
  private readonly msgBuf = Buffer.alloc(UFFD_MSG_SIZE * MSGS_PER_READ)
  private readonly seenPids = new Set<number>()
  /** Pidfds of the tasks that sent their uffds: all that fail-stop may signal. */
  private readonly tree = new RestoredTree()
  private stalled = false
  private readonly t0 = process.hrtime.bigint()
  private tFtsr = 0n

  private readonly throttle: PushThrottle
  private readonly stream: PageStream | undefined
  private streamEnded = false

  constructor(private readonly channel: RestoreChannel, private readonly images: ImageSet,
    source: PageSource, private readonly log: Log, private readonly opts: DaemonOptions = {}) {
    this.throttle = new PushThrottle(opts.maxPushRate)
    this.stream = source.stream
    this.buf = new Region(MAX_CHUNK)
    this.xfer = new Transfer(source, this.buf, log)
  }

  /** Runs until every process has all its pages or is gone. Throws on protocol errors. */
  run(): DaemonStats {
    try {
      for (;;) {
        if (this.channel.finished && this.live.length === 0) break
        const busy = this.pollOnce()
        // Refused copies go again every round, busy or not: a thread may sleep on them, and
        // the events that made the kernel say EAGAIN have just been read.
        this.retryInFlight()
        if (!busy) this.background()
        this.reap()
      }
    } catch (e) {
      const owed = this.live.filter((p) => !p.gone && p.owed > 0).map((p) => ({ pid: p.pid, pages: p.owed }))
      if (owed.length > 0 && this.opts.onFailure !== undefined) throw this.opts.onFailure(e as Error, owed, this.tree)
      throw e
    } finally {
      this.tree.close()
      this.buf.unmap()
      for (const p of this.live) p.close()
      closeQuietly(this.channel.fd)
    }
    const all = this.done
    const us = (t: bigint): number => Number((t - this.t0) / 1000n)
    return {
      processes: all.length,
      copied: all.reduce((n, p) => n + p.copied, 0),
      zeroed: all.reduce((n, p) => n + p.zeroed, 0),
      total: all.reduce((n, p) => n + p.total, 0),
      restoreUs: us(this.tFtsr),
      totalUs: us(process.hrtime.bigint()),
    }
  }

  /** How long poll(2) may sleep: 0 when idle work is due, -1 when only events can wake us. */
  private pollTimeout(): number {
    if (this.live.some((p) => p.hasInFlight() && !p.gone)) return this.stalled ? STALL_WAIT_MS : 0
    if (!this.channel.finished) return -1
    if (this.live.some((p) => p.isDone())) return 0
    if (this.stream !== undefined) return this.heldWork(this.stream) ? 0 : -1
    return this.live.some((p) => !p.ranges.isEmpty()) ? this.throttle.waitMs() : -1
  }

  /** One poll(2) round; true when something was pending (then idle work waits). */
  private pollOnce(): boolean {
    const timeout = this.pollTimeout()
    if (timeout !== 0) this.log.flush()
    const reqs: PollRequest[] = []
    const sock = !this.channel.closed
    if (sock) reqs.push({ fd: this.channel.fd, events: POLLIN })
    const polled = [...this.live]
    for (const p of polled) reqs.push({ fd: p.fd, events: POLLIN })
    const st = this.stream !== undefined && !this.streamEnded ? this.stream : undefined
    const pollWrite = st?.wantsWrite() ?? false
    if (st !== undefined) {
      reqs.push({ fd: st.readFd, events: POLLIN })
      if (pollWrite) reqs.push({ fd: st.writeFd, events: POLLOUT })
    }
    const revents = poll(reqs, timeout)
    let busy = false
    let i = 0
    if (sock && revents[i++]! !== 0) {
      this.onRestoreSocket()
      busy = true
    }
    const children: LazyProcess[] = []
    for (const p of polled) {
      const ev = revents[i++]!
      if (ev === 0 || !p.isOpen) continue
      if (ev & POLLNVAL) throw new Error(`${p.label}: uffd is not open (POLLNVAL)`)
      if (ev & (POLLIN | POLLERR | POLLHUP)) {
        busy = true
        this.readEvents(p, children)
      }
    }
    this.live.push(...children)
    if (st !== undefined) {
      const rd = revents[i++]!
      if (pollWrite && revents[i++]! !== 0) st.flush()
      if (rd !== 0) {
        busy = true
        this.onStream(st)
      }
    }
    if (busy) this.stalled = false
    return busy
  }

  /** Copies what arrived into every process that owes it; then lets go of what nobody needs. */
  private onStream(st: PageStream): void {
    const { arrivals, eof } = st.pump()
    for (const a of arrivals) this.deliver(a)
    this.releaseHeld(st)
    if (!eof) return
    this.streamEnded = true
    const owed = this.live.reduce((n, p) => n + (p.gone ? 0 : p.owed), 0)
    if (owed > 0 || !this.channel.finished) {
      throw new StreamLostError(`the page stream ended before every page was delivered (${owed} pages still owed): the feeder or its channel went away`)
    }
  }

  private releaseHeld(st: PageStream): void {
    st.release((pid, s, e) => this.live.some((p) => p.pid === pid && !p.gone && p.needsImg(s, e)))
  }

  /** Some process owes pages that are held already (see copyHeld). */
  private heldWork(st: PageStream): boolean {
    return this.live.some((p) => !p.gone && !p.ranges.isEmpty() && !p.hasInFlight() &&
      st.heldRuns(p.pid).some((a) => p.ranges.byImg(a.img, a.img + a.nrPages * PAGE_SIZE).length > 0))
  }

  /**
   * Idle, with a page stream: pages held for one process that another still owes (a child
   * forked while they were in flight for its parent) go in now; nothing else would bring them.
   */
  private copyHeld(st: PageStream): void {
    let copied = false
    for (const p of this.live) {
      if (p.gone || p.ranges.isEmpty() || p.hasInFlight()) continue
      for (const a of st.heldRuns(p.pid)) {
        for (const piece of p.ranges.takeImg(a.img, a.img + a.nrPages * PAGE_SIZE)) {
          if (p.gone) break
          this.settle(p, this.xfer.copy(p, piece, false))
          copied = true
        }
      }
    }
    if (copied) this.releaseHeld(st)
  }

  private deliver(a: Arrival): void {
    const end = a.img + a.nrPages * PAGE_SIZE
    for (const p of this.live) {
      if (p.pid !== a.pid) continue
      // Awaited pieces first: a thread sleeps on each.
      for (const piece of p.awaiting.takeImg(a.img, end)) {
        if (p.gone) break
        this.settle(p, this.xfer.copy(p, piece, true))
      }
      for (const piece of p.ranges.takeImg(a.img, end)) {
        if (p.gone) break
        this.settle(p, this.xfer.copy(p, piece, false))
      }
    }
  }

  private onRestoreSocket(): void {
    for (const m of this.channel.drain()) {
      switch (m.kind) {
        case 'task':
          this.addTask(m.pid, m.uffd, m.sender)
          break
        case 'zombie':
          this.log.debug(`Zombie PID: ${m.pid}`)
          break
        case 'finished':
          this.tFtsr = process.hrtime.bigint()
          this.stream?.startPush()
          this.log.info(`restore finished (FTSR): ${this.channel.received} tasks, ${this.live.length} with lazy memory`)
          break
        case 'eof':
          this.log.debug('criu restore closed lazy-pages.socket')
          break
      }
    }
  }

  private addTask(pid: number, uffd: number, sender: Sender): void {
    const task = this.images.tasks.get(pid)
    if (task === undefined || this.seenPids.has(pid)) {
      closeQuietly(uffd)
      if (sender.pidfd !== null) closeQuietly(sender.pidfd)
      throw new RestoreProtocolError(
        this.seenPids.has(pid)
          ? `criu restore sent pid ${pid} twice`
          : `criu restore sent pid ${pid}, which has no pagemap in ${this.images.dir} (not the images being restored?)`,
      )
    }
    this.seenPids.add(pid)
    this.tree.adopt(pid, uffd, sender)
    const p = new LazyProcess(pid, uffd, new LazyRanges(task.lazy), task.lazyPages)
    this.log.debug(`Received PID: ${pid}, uffd: ${uffd}`)
    this.log.debug(`${p.label}: Found ${task.lazyPages} pages to be handled by UFFD`)
    if (task.uncovered > 0) this.log.warn(`${p.label}: ${task.uncovered} lazy pages lie outside every VMA of mm-${pid}.img`)
    this.live.push(p)
  }

  private readEvents(p: LazyProcess, children: LazyProcess[]): void {
    const n = readSome(p.fd, this.msgBuf)
    if (n <= 0) return
    if (n % UFFD_MSG_SIZE !== 0) throw new Error(`${p.label}: short uffd message (${n} bytes)`)
    // Every message is handled even once the process is gone: a FORK read with the batch has
    // already installed the child's uffd here, and that child is alive and owed pages.
    for (let off = 0; off < n; off += UFFD_MSG_SIZE) {
      const res = handleMessage(p, decodeUffdMsg(this.msgBuf, off), this.xfer, this.log)
      if (res.child) children.push(res.child)
      this.settle(p, res.outcome)
    }
  }

  private settle(p: LazyProcess, outcome: Outcome): void {
    if (outcome === 'gone' && !p.gone) {
      this.log.debug(`${p.label}: EXIT`)
      p.markGone()
    }
  }

  /** Moves gone processes, and (after FTSR) finished ones, out of the loop. */
  private reap(finishDone = false): void {
    for (let i = this.live.length - 1; i >= 0; i--) {
      const p = this.live[i]!
      if (!p.gone && !(finishDone && this.channel.finished && p.isDone())) continue
      p.close()
      this.log.info(p.summary())
      this.live.splice(i, 1)
      this.done.push(p)
    }
  }

  private retryInFlight(): void {
    let retried = false
    let progress = false
    for (const p of this.live) {
      if (!p.hasInFlight() || p.gone) continue
      retried = true
      for (const r of p.inFlight.take(0, Number.MAX_SAFE_INTEGER)) {
        if (p.gone) break
        const o = this.xfer.copy(p, r, true)
        this.settle(p, o)
        if (o !== 'again') progress = true
      }
      for (const page of [...p.zeroInFlight]) {
        if (p.gone) break
        p.zeroInFlight.delete(page)
        const o = this.xfer.zero(p, page)
        this.settle(p, o)
        if (o !== 'again') progress = true
      }
    }
    if (retried) this.stalled = !progress
  }

  /** Nothing pending and FTSR seen: let go of finished processes, push one chunk. */
  private background(): void {
    if (!this.channel.finished) return
    this.reap(true)
    if (this.stream !== undefined) return this.copyHeld(this.stream) // the feeder pushes the rest
    const p = this.live.find((q) => !q.ranges.isEmpty() && !q.hasInFlight())
    if (p !== undefined && this.throttle.waitMs() === 0) this.pushChunk(p)
  }

  /** Background push: the next chunk of the lowest range (never more than that range: one VMA). */
  private pushChunk(p: LazyProcess): void {
    const first = p.ranges.first()!
    const len = Math.min(p.chunk.next(), first.end - first.start)
    const [piece] = p.ranges.take(first.start, first.start + len)
    this.settle(p, this.xfer.copy(p, piece!, false))
    this.throttle.spent(len)
  }
}
