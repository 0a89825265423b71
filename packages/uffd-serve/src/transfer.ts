// Putting pages into a process: fetch from the page source, UFFDIO_COPY, and the kernel's answers
// (criu/uffd.c uffd_copy, uffd_check_op_error), made safe where CRIU loops:
//   EAGAIN  an event is pending (mmap_changing): keep the rest in flight, read events, retry
//   EEXIST  the page is already there: skip it (and wake whoever waits on it)
//   ENOENT  no VMA there any more, or the range now spans two VMAs (mprotect splits without an
//           event): go page by page; a page still ENOENT on its own has no VMA and is skipped
//   ESRCH / ENOSPC (older kernels)  the process has exited
// A partial copy reports the bytes that landed; the rest is simply tried again.
import { PAGE_SIZE } from '@criu-pipes/criu-image'
import { EAGAIN, EEXIST, ENOENT, ENOSPC, ESRCH, SysError, uffdCopy, uffdWake, uffdZeropage } from '@criu-pipes/sys'
import type { Region } from '@criu-pipes/sys'
import type { LazyProcess } from './lazy-process.js'
import type { LazyRange, Log, PageSource } from '@criu-pipes/lazy-pages'
import { LOG_DEBUG } from '@criu-pipes/lazy-pages'

export type Outcome = 'done' | 'again' | 'gone'

const hex = (n: number): string => `0x${n.toString(16)}`
/**
 * Pages asked for per fault from a page stream: the faulting page and the rest of CRIU's first
 * background chunk (64 KiB) after it. A thread faulting its way through an array then waits one
 * round trip per 16 pages instead of per page; the extra 60 KiB cost well under a millisecond.
 */
export const FAULT_READAHEAD = 16

export class Transfer {
  constructor(private readonly source: PageSource, private readonly buf: Region, private readonly log: Log) {}

  get sourceName(): string {
    return this.source.name
  }

  /**
   * Delivers `r` (already taken out of p.ranges). What the source does not deliver now goes back
   * to p.ranges; what the kernel refuses with EAGAIN goes to p.inFlight. `wake`: a thread sleeps
   * on the first page (a fault), so make sure it wakes even if the page turned out to be there.
   */
  copy(p: LazyProcess, r: LazyRange, wake: boolean): Outcome {
    const want = Math.min((r.end - r.start) / PAGE_SIZE, this.buf.length / PAGE_SIZE)
    const got = this.source.read(p.pid, r.img, want, this.buf)
    if (got === 0 && this.source.stream !== undefined) return this.await(p, r)
    if (got < 1 || got > want || !Number.isInteger(got)) throw new Error(`${this.source.name} returned ${got} pages for ${want}`)
    const len = got * PAGE_SIZE
    if (r.start + len < r.end) p.ranges.insert({ start: r.start + len, end: r.end, img: r.img + len })
    if (this.log.enabled(LOG_DEBUG)) this.log.debug(`${p.label}: uffd_copy: ${hex(r.start)}/${len}`)

    let off = 0
    let onePage = false
    while (off < len) {
      const n = onePage ? PAGE_SIZE : len - off
      const res = uffdCopy(p.fd, r.start + off, this.buf.ptr + BigInt(off), n)
      const landed = res.ok ? n : res.bytes - (res.bytes % PAGE_SIZE)
      p.copied += landed / PAGE_SIZE
      off += landed
      if (res.ok || landed > 0) continue
      switch (res.errno) {
        case EAGAIN:
          p.inFlight.insert({ start: r.start + off, end: r.start + len, img: r.img + off })
          this.log.debug(`${p.label}: copy: EAGAIN at ${hex(r.start + off)}, retry after events`)
          return 'again'
        case EEXIST:
          if (wake) uffdWake(p.fd, r.start + off, PAGE_SIZE)
          p.skipped++
          off += PAGE_SIZE
          break
        case ENOENT:
          if (!onePage && n > PAGE_SIZE) { onePage = true; break }
          p.skipped++
          off += PAGE_SIZE
          break
        case ESRCH:
        case ENOSPC:
          return 'gone'
        default:
          throw new SysError('ioctl(UFFDIO_COPY)', res.errno, `${p.label} ${hex(r.start + off)} len ${n}`)
      }
    }
    return 'done'
  }

  /**
   * A page stream has not delivered `r` yet: ask for it (and for what follows it in the same
   * range, up to FAULT_READAHEAD pages, since neighbours tend to fault next) and copy it when it
   * comes; the daemon wakes the faulting thread then.
   */
  private await(p: LazyProcess, r: LazyRange): Outcome {
    p.awaiting.insert(r)
    let pages = (r.end - r.start) / PAGE_SIZE
    const next = p.ranges.covering(r.end)
    if (next !== undefined && next.start === r.end && next.img === r.img + (r.end - r.start)) {
      pages += Math.min((next.end - next.start) / PAGE_SIZE, Math.max(0, FAULT_READAHEAD - pages))
    }
    this.source.stream!.request(p.pid, r.img, pages)
    if (this.log.enabled(LOG_DEBUG)) this.log.debug(`${p.label}: request ${hex(r.img)} x${pages} upstream`)
    return 'done'
  }

  /** A fault outside the lazy ranges: the page was never dumped, so it is zeros. */
  zero(p: LazyProcess, page: number): Outcome {
    const res = uffdZeropage(p.fd, page, PAGE_SIZE)
    if (res.ok || res.bytes === PAGE_SIZE) {
      p.zeroed++
      return 'done'
    }
    switch (res.errno) {
      case EAGAIN:
        p.zeroInFlight.add(page)
        return 'again'
      case EEXIST:
        uffdWake(p.fd, page, PAGE_SIZE)
        return 'done'
      case ENOENT:
        return 'done'
      case ESRCH:
      case ENOSPC:
        return 'gone'
      default:
        throw new SysError('ioctl(UFFDIO_ZEROPAGE)', res.errno, `${p.label} ${hex(page)}`)
    }
  }
}
