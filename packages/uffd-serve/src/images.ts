// What the daemon reads from an image directory, all of it up front (the files are small): the
// task count from pstree.img, and per live task its pagemap and the lazy ranges cut at the VMAs of
// mm-<pid>.img. Zombies are in pstree but have no pagemap or mm.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PE_LAZY, decodeMm, decodePagemap, decodePstree } from '@criu-pipes/criu-image'
import type { PagemapEntry } from '@criu-pipes/criu-image'
import { splitAtVmas } from './ranges.js'
import type { LazyRange } from './ranges.js'

export interface TaskImages {
  pid: number
  pagesId: number
  entries: PagemapEntry[]
  /** PE_LAZY entries cut at VMA boundaries, run-time address = dump-time address. */
  lazy: LazyRange[]
  /** Pages in PE_LAZY entries: CRIU's total_pages for the transfer summary. */
  lazyPages: number
  /** Lazy pages outside every VMA of mm-<pid>.img: never served from the images. */
  uncovered: number
}

export interface ImageSet {
  /** Where the files are read from (a checked directory's /proc/self/fd path). */
  dir: string
  /** The directory as the user named it, for messages. */
  label: string
  /** pstree.img entries: how many (pid, uffd) records the restore will send, zombies included. */
  taskCount: number
  /** Tasks with a pagemap, by the pid in the images. */
  tasks: Map<number, TaskImages>
}

function read(dir: string, name: string): Buffer {
  return readFileSync(join(dir, name))
}

export function loadTask(dir: string, pid: number): TaskImages {
  const pmName = `pagemap-${pid}.img`
  const pm = decodePagemap(read(dir, pmName), pmName)
  const mmName = `mm-${pid}.img`
  const { vmas } = decodeMm(read(dir, mmName), mmName)
  const lazyEntries = pm.entries.filter((e) => (e.flags & PE_LAZY) !== 0)
  const sorted = [...vmas].sort((a, b) => a.start - b.start)
  const { ranges, uncovered } = splitAtVmas(lazyEntries, sorted)
  return {
    pid,
    pagesId: pm.pagesId,
    entries: pm.entries,
    lazy: ranges,
    lazyPages: lazyEntries.reduce((n, e) => n + e.nrPages, 0),
    uncovered,
  }
}

export function loadImageSet(dir: string, label = dir): ImageSet {
  if (!existsSync(join(dir, 'pstree.img'))) throw new Error(`${label} has no pstree.img: not a CRIU image directory`)
  const pstree = decodePstree(read(dir, 'pstree.img'), 'pstree.img')
  const tasks = new Map<number, TaskImages>()
  for (const { pid } of pstree) {
    if (existsSync(join(dir, `pagemap-${pid}.img`))) tasks.set(pid, loadTask(dir, pid))
  }
  return { dir, label, taskCount: pstree.length, tasks }
}
