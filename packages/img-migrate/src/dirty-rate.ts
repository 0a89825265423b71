// How fast a running process tree's memory changes, measured without freezing it: a random sample
// of its resident private writable pages read through /proc/PID/mem twice, SAMPLE_GAP_MS apart,
// and the share whose content changed. Content, not the dirty bit: a page written with the same
// bytes costs pre-copy by content nothing (img-split sends a reference), and the kernel here has no
// soft-dirty bit anyway. Residency from /proc/PID/pagemap (present or swapped), so the large
// untouched reservations of a runtime's heap do not dilute the sample.
import { closeSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs'
import { randomInt } from 'node:crypto'

const PAGE = 4096
/** Pages sampled: enough for a share to +-3 % (binomial, 95 %), 4 MiB of copies held. */
export const SAMPLE_PAGES = 1024
/** Between the two reads: long enough that a slow rate shows, short against a migration. */
export const SAMPLE_GAP_MS = 500
/** Random picks tried per sampled page before the tree counts as having no more resident pages. */
const TRIES_PER_PAGE = 8
/** /proc/PID/pagemap: one u64 per page; bit 63 present, bit 62 swapped. */
const PAGEMAP_ENTRY = 8
const PM_PRESENT_OR_SWAPPED = 3n << 62n

export interface DirtySample {
  /** Resident private writable bytes of the tree, estimated from the sample's hits. */
  residentBytes: number
  pages: number
  changed: number
  gapMs: number
  /**
   * Pages rewritten per page per second: pages changing independently at rate d leave a share
   * 1 - e^(-d t) changed after t, so d = -ln(1 - share) / t (a sample all changed gives the
   * largest rate it can tell, ln(pages) / t).
   */
  perSecond: number
}

interface Vma { pid: number; start: number; pages: number }
interface Picked { pid: number; addr: number; bytes: Buffer }

/** The process and its descendants (host pids), children listed by every thread. */
export function treeOf(pid: number): number[] {
  const out: number[] = []
  for (let queue = [pid]; queue.length > 0;) {
    const p = queue.shift()!
    out.push(p)
    let tids: string[] = []
    try { tids = readdirSync(`/proc/${p}/task`) } catch { /* gone */ }
    for (const tid of tids) {
      try { queue.push(...readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number)) } catch { /* gone */ }
    }
  }
  return out
}

/** Private writable mappings (what a dump's pages are made of), largest virtual extent first. */
function writableVmas(pid: number): Vma[] {
  let maps: string
  try { maps = readFileSync(`/proc/${pid}/maps`, 'utf8') } catch { return [] }
  const out: Vma[] = []
  for (const line of maps.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (!m || m[3]![1] !== 'w' || m[3]![3] !== 'p' || m[4] === '[vsyscall]') continue
    const start = parseInt(m[1]!, 16), end = parseInt(m[2]!, 16)
    out.push({ pid, start, pages: (end - start) / PAGE })
  }
  return out
}

/** Reads one page of `pid` at `addr`; null if it cannot be read (unmapped meanwhile, gone). */
function readPage(memFd: number, addr: number, into: Buffer): boolean {
  try { return readSync(memFd, into, 0, PAGE, addr) === PAGE } catch { return false }
}

export async function sampleDirtyRate(rootPid: number, pages = SAMPLE_PAGES, gapMs = SAMPLE_GAP_MS): Promise<DirtySample> {
  const vmas = treeOf(rootPid).flatMap(writableVmas)
  const total = vmas.reduce((n, v) => n + v.pages, 0)
  const fds = new Map<number, { mem: number; pagemap: number }>()
  const open = (pid: number): { mem: number; pagemap: number } | null => {
    let f = fds.get(pid)
    if (f) return f
    try { f = { mem: openSync(`/proc/${pid}/mem`, 'r'), pagemap: openSync(`/proc/${pid}/pagemap`, 'r') } } catch { return null }
    fds.set(pid, f)
    return f
  }
  const picked: Picked[] = []
  let tries = 0
  const entry = Buffer.alloc(PAGEMAP_ENTRY)
  try {
    while (total > 0 && picked.length < pages && tries < pages * TRIES_PER_PAGE) {
      tries++
      // A page drawn uniformly over the virtual extent: its VMA by weight, then its place in it.
      let k = randomInt(total)
      const v = vmas.find(x => (k -= x.pages) < 0)!
      const addr = v.start + (k + v.pages) * PAGE
      const f = open(v.pid)
      if (!f) continue
      try {
        if (readSync(f.pagemap, entry, 0, PAGEMAP_ENTRY, (addr / PAGE) * PAGEMAP_ENTRY) !== PAGEMAP_ENTRY) continue
      } catch { continue }
      if ((entry.readBigUInt64LE(0) & PM_PRESENT_OR_SWAPPED) === 0n) continue
      const bytes = Buffer.allocUnsafe(PAGE)
      if (readPage(f.mem, addr, bytes)) picked.push({ pid: v.pid, addr, bytes })
    }
    const t0 = performance.now()
    await new Promise(res => setTimeout(res, gapMs))
    const gap = performance.now() - t0
    const now = Buffer.allocUnsafe(PAGE)
    let changed = 0
    for (const p of picked) {
      const f = fds.get(p.pid)!
      if (!readPage(f.mem, p.addr, now) || !now.equals(p.bytes)) changed++
    }
    const n = picked.length
    const share = n === 0 ? 0 : Math.min(changed, n - 1) / n
    return {
      residentBytes: tries === 0 ? 0 : Math.round(total * PAGE * n / tries),
      pages: n, changed, gapMs: Math.round(gap),
      perSecond: n === 0 ? 0 : -Math.log(1 - share) / (gap / 1000),
    }
  } finally {
    for (const f of fds.values()) { closeSync(f.mem); closeSync(f.pagemap) }
  }
}
