// The still-missing lazy memory of one process, as CRIU's lazy_iov list: each range has a
// run-time [start, end), which follows mremap(), and the dump-time address of its first byte,
// which never changes, because the page sources (pages-N.img, the page server) know pages only
// by the addresses they had when they were dumped.
import { PAGE_SIZE } from '@criu-pipes/criu-image'

export interface LazyRange {
  /** Run-time start, page-aligned. */
  start: number
  /** Run-time end (exclusive), page-aligned. */
  end: number
  /** Dump-time address of `start`. */
  img: number
}

export const rangePages = (r: LazyRange): number => (r.end - r.start) / PAGE_SIZE

/** The part of `r` inside [start, end), with its dump-time address shifted to match. */
function slice(r: LazyRange, start: number, end: number): LazyRange {
  return { start, end, img: r.img + (start - r.start) }
}

/** A sorted set of disjoint ranges. Ranges are never merged: each stays inside the VMA it came from. */
export class LazyRanges {
  private list: LazyRange[] = []
  private bytes = 0

  constructor(ranges: Iterable<LazyRange> = []) {
    for (const r of ranges) this.insert(r)
  }

  get pages(): number {
    return this.bytes / PAGE_SIZE
  }

  get count(): number {
    return this.list.length
  }

  isEmpty(): boolean {
    return this.list.length === 0
  }

  clone(): LazyRanges {
    const copy = new LazyRanges()
    copy.list = this.list.map((r) => ({ ...r }))
    copy.bytes = this.bytes
    return copy
  }

  [Symbol.iterator](): Iterator<LazyRange> {
    return this.list[Symbol.iterator]()
  }

  /** The lowest range, which background push takes next. */
  first(): LazyRange | undefined {
    return this.list[0]
  }

  /** Index of the first range that ends after `addr`. */
  private firstEndingAfter(addr: number): number {
    let lo = 0
    let hi = this.list.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.list[mid]!.end <= addr) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  covering(addr: number): LazyRange | undefined {
    const r = this.list[this.firstEndingAfter(addr)]
    return r !== undefined && r.start <= addr ? r : undefined
  }

  has(addr: number): boolean {
    return this.covering(addr) !== undefined
  }

  /** Removes [start, end) and returns what was there, in address order (possibly nothing). */
  take(start: number, end: number): LazyRange[] {
    const out: LazyRange[] = []
    let i = this.firstEndingAfter(start)
    while (i < this.list.length && this.list[i]!.start < end) {
      const r = this.list[i]!
      const s = Math.max(r.start, start)
      const e = Math.min(r.end, end)
      out.push(slice(r, s, e))
      const rest: LazyRange[] = []
      if (r.start < s) rest.push(slice(r, r.start, s))
      if (e < r.end) rest.push(slice(r, e, r.end))
      this.list.splice(i, 1, ...rest)
      this.bytes -= e - s
      i += rest.length
    }
    return out
  }

  /**
   * The run-time pieces whose dump-time addresses fall in [imgStart, imgEnd): what a page source
   * that delivers by dump-time address (the page stream) has just made available. A linear scan:
   * ranges are few (one per VMA, plus the splits of events).
   */
  byImg(imgStart: number, imgEnd: number): LazyRange[] {
    const out: LazyRange[] = []
    for (const r of this.list) {
      const s = Math.max(r.img, imgStart)
      const e = Math.min(r.img + (r.end - r.start), imgEnd)
      if (s < e) out.push(slice(r, r.start + (s - r.img), r.start + (e - r.img)))
    }
    return out
  }

  /** Removes and returns byImg(imgStart, imgEnd). */
  takeImg(imgStart: number, imgEnd: number): LazyRange[] {
    const pieces = this.byImg(imgStart, imgEnd)
    for (const p of pieces) this.take(p.start, p.end)
    return pieces
  }

  /** Removes [start, end); returns the number of pages that were there. */
  drop(start: number, end: number): number {
    return this.take(start, end).reduce((n, r) => n + rangePages(r), 0)
  }

  /** Adds a range; whatever it overlaps is replaced (the newer knowledge wins). */
  insert(r: LazyRange): void {
    if (r.end <= r.start) return
    this.take(r.start, r.end)
    const i = this.firstEndingAfter(r.start)
    this.list.splice(i, 0, { ...r })
    this.bytes += r.end - r.start
  }

  /**
   * mremap() moved [from, from+len) to [to, to+len): move the run-time addresses of what lies
   * there, keep the dump-time ones. The kernel unmaps the destination first (UNMAP event), but
   * anything still recorded there is gone either way.
   */
  remap(from: number, to: number, len: number): void {
    const moved = this.take(from, from + len)
    this.take(to, to + len)
    const shift = to - from
    for (const r of moved) this.insert({ start: r.start + shift, end: r.end + shift, img: r.img })
  }
}

export interface PagemapRun {
  vaddr: number
  nrPages: number
}

export interface VmaBounds {
  start: number
  end: number
}

/**
 * CRIU's collect_iovs: lazy pagemap entries cut at VMA boundaries, because one UFFDIO_COPY must
 * stay inside one VMA. Both lists are sorted (the image format guarantees it). Parts of an entry
 * that no VMA covers are left out and counted in `uncovered` (CRIU never writes such entries).
 */
export function splitAtVmas(entries: readonly PagemapRun[], vmas: readonly VmaBounds[]): {
  ranges: LazyRange[]
  uncovered: number
} {
  const ranges: LazyRange[] = []
  let uncovered = 0
  let v = 0
  for (const e of entries) {
    const end = e.vaddr + e.nrPages * PAGE_SIZE
    let at = e.vaddr
    while (v < vmas.length && vmas[v]!.end <= at) v++
    for (let w = v; w < vmas.length && at < end; w++) {
      const vma = vmas[w]!
      if (vma.start >= end) break
      if (vma.start > at) { uncovered += (vma.start - at) / PAGE_SIZE; at = vma.start }
      const stop = Math.min(end, vma.end)
      ranges.push({ start: at, end: stop, img: at })
      at = stop
    }
    if (at < end) uncovered += (end - at) / PAGE_SIZE
  }
  return { ranges, uncovered }
}
