// What the daemon reads from an image directory, all of it up front (the files are small): the
// task count from pstree.img, and per live task its pagemap and the lazy ranges cut at the VMAs of
// mm-<pid>.img. Zombies are in pstree but have no pagemap or mm. And the dump's identity for the
// page stream's PAGE_HELLO.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PE_LAZY, decodeMm, decodePagemap, decodePstree } from '@criu-pipes/criu-image'
import { DUMP_ID_BYTES } from '@criu-pipes/framing'
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
  /** Which dump this is (see dumpId). */
  dumpId: Buffer
}

/**
 * The dump's identity: a digest of inventory.img (which carries the dump's time, dump_uptime,
 * to the 10 ms), pstree.img and the pagemaps (which pages, of which pids). Two dumps of the same
 * workload differ in the first; the images shipped to the destination (a tar, a copy) are the
 * same bytes, so both ends of a page stream compute the same id. Each file goes in with its name
 * and length, so no two sets of files hash alike by moving bytes between them.
 */
function dumpId(files: [string, Buffer][]): Buffer {
  const h = createHash('sha256')
  for (const [name, data] of files) {
    const len = Buffer.alloc(8)
    len.writeBigUInt64LE(BigInt(data.length))
    h.update(name).update('\0').update(len).update(data)
  }
  return h.digest().subarray(0, DUMP_ID_BYTES)
}

function read(dir: string, name: string): Buffer {
  return readFileSync(join(dir, name))
}

export function loadTask(dir: string, pid: number, pmBytes = read(dir, `pagemap-${pid}.img`)): TaskImages {
  const pmName = `pagemap-${pid}.img`
  const pm = decodePagemap(pmBytes, pmName)
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
  const pstreeBytes = read(dir, 'pstree.img')
  const pstree = decodePstree(pstreeBytes, 'pstree.img')
  // CRIU always writes inventory.img; hand-made test images may have none (then the rest names them).
  const inventory = existsSync(join(dir, 'inventory.img')) ? read(dir, 'inventory.img') : Buffer.alloc(0)
  const hashed: [string, Buffer][] = [['inventory.img', inventory], ['pstree.img', pstreeBytes]]
  const tasks = new Map<number, TaskImages>()
  for (const { pid } of pstree) {
    const pmName = `pagemap-${pid}.img`
    if (!existsSync(join(dir, pmName))) continue
    const pm = read(dir, pmName)
    hashed.push([pmName, pm])
    tasks.set(pid, loadTask(dir, pid, pm))
  }
  return { dir, label, taskCount: pstree.length, tasks, dumpId: dumpId(hashed) }
}
