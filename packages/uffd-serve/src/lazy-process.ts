// Per-uffd state, CRIU's lazy_pages_info: one per restored process (and per child it forks
// while lazy). `ranges` is what nobody asked for yet; `inFlight` holds work that was taken out
// but could not land (UFFDIO_COPY/ZEROPAGE said EAGAIN because an event was pending) and is
// retried once the events are read: a thread may be asleep on those pages.
import { PAGE_SIZE } from '@criu-pipes/criu-image'
import { closeQuietly, setNonBlocking } from '@criu-pipes/sys'
import { ChunkSize, LazyRanges } from '@criu-pipes/lazy-pages'

export class LazyProcess {
  /** `pid-fd`, CRIU's prefix for per-process log lines. */
  readonly label: string
  readonly inFlight = new LazyRanges()
  /**
   * Taken out and asked for upstream (a page stream), copied when the pages arrive: a thread may
   * sleep on the first page of each. Not retried by the loop, so never "in flight" for polling.
   */
  readonly awaiting = new LazyRanges()
  /** Fault pages outside the lazy ranges whose UFFDIO_ZEROPAGE must be retried. */
  readonly zeroInFlight = new Set<number>()
  readonly chunk = new ChunkSize()
  copied = 0
  zeroed = 0
  /** Pages found already there (EEXIST) or with no VMA any more (ENOENT, REMOVE, UNMAP). */
  skipped = 0
  /** The process went away (ESRCH/ENOSPC/ENOMEM from the kernel). */
  gone = false
  private open = true

  /**
   * @param pid the pid in the images: page lookups use it, also for forked children
   * @param fd the userfaultfd, already set up by CRIU (never UFFDIO_API it again)
   * @param total lazy pages at the start, for the summary line
   */
  constructor(readonly pid: number, readonly fd: number, readonly ranges: LazyRanges, readonly total: number) {
    this.label = `${pid}-${fd}`
    // CRIU hands over a non-blocking uffd and the kernel makes fork uffds alike; make sure, since
    // a blocking read() would stall every other process.
    setNonBlocking(fd, true)
  }

  /**
   * EVENT_FORK: the child starts with the parent's memory as it is now, so it needs what the
   * parent still misses, including what is in flight for the parent (CRIU's copy_iovs).
   */
  fork(childFd: number): LazyProcess {
    const ranges = this.ranges.clone()
    for (const r of this.inFlight) ranges.insert(r)
    for (const r of this.awaiting) ranges.insert(r)
    return new LazyProcess(this.pid, childFd, ranges, ranges.pages)
  }

  hasInFlight(): boolean {
    return !this.inFlight.isEmpty() || this.zeroInFlight.size > 0
  }

  isInFlight(page: number): boolean {
    return this.inFlight.has(page) || this.zeroInFlight.has(page) || this.awaiting.has(page)
  }

  /** Pages still owed to the process: what a lost page source would leave as zero pages. */
  get owed(): number {
    return this.ranges.pages + this.inFlight.pages + this.awaiting.pages + this.zeroInFlight.size
  }

  /** Some of its pages with dump-time addresses in [imgStart, imgEnd) are still owed. */
  needsImg(imgStart: number, imgEnd: number): boolean {
    return [this.ranges, this.inFlight, this.awaiting].some((r) => r.byImg(imgStart, imgEnd).length > 0)
  }

  /** Nothing left to deliver (or nobody to deliver it to): the process can be let go. */
  isDone(): boolean {
    return this.gone || (this.ranges.isEmpty() && !this.hasInFlight() && this.awaiting.isEmpty())
  }

  /** Forgets [start, end) (REMOVE, UNMAP); returns the pages that were still owed there. */
  drop(start: number, end: number): number {
    let n = this.ranges.drop(start, end) + this.inFlight.drop(start, end) + this.awaiting.drop(start, end)
    for (const a of this.zeroInFlight) if (a >= start && a < end) { this.zeroInFlight.delete(a); n++ }
    return n
  }

  remap(from: number, to: number, len: number): void {
    this.ranges.remap(from, to, len)
    this.inFlight.remap(from, to, len)
    this.awaiting.remap(from, to, len)
    const moved = [...this.zeroInFlight].filter((a) => a >= from && a < from + len)
    for (const a of moved) this.zeroInFlight.delete(a)
    for (const a of moved) this.zeroInFlight.add(a + to - from)
  }

  /**
   * The process is gone: nothing more can be delivered. The ranges stay until the state is let
   * go, because a FORK read in the same batch still needs them for the child.
   */
  markGone(): void {
    this.gone = true
  }

  /**
   * Closes the uffd and forgets what was owed. Its VMAs become ordinary memory: later faults
   * (never-dumped pages in lazy VMAs) are zero-filled by the kernel, which is what they must be.
   */
  close(): void {
    if (!this.open) return
    this.open = false
    closeQuietly(this.fd)
    this.ranges.take(0, Number.MAX_SAFE_INTEGER)
    this.inFlight.take(0, Number.MAX_SAFE_INTEGER)
    this.awaiting.take(0, Number.MAX_SAFE_INTEGER)
    this.zeroInFlight.clear()
  }

  get isOpen(): boolean {
    return this.open
  }

  summary(): string {
    const extra = [
      this.zeroed > 0 ? `${this.zeroed} zero` : '',
      this.skipped > 0 ? `${this.skipped} skipped` : '',
      this.gone ? 'process exited' : '',
    ].filter(Boolean)
    return `${this.label}: UFFD transferred pages: (${this.copied}/${this.total})${extra.length ? ` [${extra.join(', ')}]` : ''}`
  }
}

export const pageOf = (addr: number): number => addr - (addr % PAGE_SIZE)
