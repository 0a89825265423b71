// Pages from a directory of FULL images (a plain `criu dump`, the SRC of crit-make-lazy): the
// data of a present pagemap entry is in pages-<pages_id>.img at the running offset of the
// present entries before it (criu-image's pagesOffsets). PE_PARENT entries are looked up in the
// parent/ image set. pread() at explicit offsets, fds kept open: no seek state to get wrong.
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs'
import { join } from 'node:path'
import {
  PAGE_SIZE, PE_LAZY, PE_PARENT, PE_PRESENT, entryBytes, findEntryIndex, pagesFileName, pagesOffsets, presentBytes, refuseCompressed,
} from '@criu-pipes/criu-image'
import type { PagemapEntry } from '@criu-pipes/criu-image'
import type { Region } from '@criu-pipes/sys'
import type { ImageSet, PageSource, TaskImages } from '@criu-pipes/lazy-pages'
import { loadImageSet } from '@criu-pipes/lazy-pages'

const hex = (n: number): string => `0x${n.toString(16)}`

/** The directory cannot serve the lazy pages it describes: refused at startup, never zero-filled. */
export class NoPageDataError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'NoPageDataError'
  }
}

interface TaskData {
  pagesFd: number
  pagesName: string
  entries: PagemapEntry[]
  /** Byte offset of each entry's data in the pages file (undefined: not PE_PRESENT). */
  offsets: (number | undefined)[]
}

export class DirectorySource implements PageSource {
  readonly name: string
  private readonly tasks = new Map<number, TaskData>()
  private parent: DirectorySource | undefined

  private constructor(readonly dir: string, label: string) {
    this.name = `directory ${label}`
  }

  /**
   * Opens the pages files of every task and checks that every lazy page has data here (or in
   * parent/). A made-lazy directory (PE_LAZY without PE_PRESENT) is refused: serving it would
   * hand the process zero pages where its memory was.
   */
  static open(images: ImageSet): DirectorySource {
    const src = new DirectorySource(images.dir, images.label)
    try {
      const parentDir = join(images.dir, 'parent')
      const hasParent = existsSync(join(parentDir, 'pstree.img'))
      let missing = 0
      let needParent = false
      for (const task of images.tasks.values()) {
        for (const e of task.entries) {
          if (!(e.flags & PE_LAZY) || e.flags & PE_PRESENT) continue
          if (e.flags & PE_PARENT && hasParent) needParent = true
          else missing += e.nrPages
        }
        src.openTask(task)
      }
      if (missing > 0) {
        throw new NoPageDataError(
          `${images.label} has no data for ${missing} lazy pages (a crit-make-lazy output?): ` +
            'point -D at the full images or use --page-server',
        )
      }
      if (needParent) src.parent = DirectorySource.open(loadImageSet(parentDir, join(images.label, 'parent')))
      return src
    } catch (e) {
      src.close()
      throw e
    }
  }

  private openTask(task: TaskImages): void {
    // CRIU 4.3 --compress stores LZ4 blocks where this source reads raw pages by offset.
    refuseCompressed(`pagemap-${task.pid}.img`, task.entries, 'uffd-serve')
    const pagesName = pagesFileName(task.pagesId)
    const path = join(this.dir, pagesName)
    const pagesFd = openSync(path, 'r')
    this.tasks.set(task.pid, { pagesFd, pagesName, entries: task.entries, offsets: pagesOffsets(task.entries) })
    const size = fstatSync(pagesFd).size
    const need = presentBytes(task.entries)
    if (size < need) {
      throw new NoPageDataError(`${path} is truncated: ${size} bytes, but pagemap-${task.pid}.img has ${need} bytes of present pages`)
    }
  }

  read(pid: number, imgAddr: number, nrPages: number, dst: Region): number {
    const data = this.tasks.get(pid)
    if (data === undefined) throw new Error(`${this.name}: no pagemap for pid ${pid}`)
    const i = findEntryIndex(data.entries, imgAddr)
    const x = data.entries[i]
    if (x === undefined) throw new Error(`${this.name}: pid ${pid} has no pagemap entry at ${hex(imgAddr)}`)
    const pages = Math.min(nrPages, (x.vaddr + entryBytes(x) - imgAddr) / PAGE_SIZE, dst.length / PAGE_SIZE)
    const offset = data.offsets[i]
    if (offset === undefined) {
      if (x.flags & PE_PARENT && this.parent) return this.parent.read(pid, imgAddr, pages, dst)
      throw new Error(`${this.name}: pid ${pid} has no page data at ${hex(imgAddr)} (flags ${x.flags})`)
    }
    const len = pages * PAGE_SIZE
    const buf = dst.buffer(0, len)
    const at = offset + (imgAddr - x.vaddr)
    let done = 0
    while (done < len) {
      const n = readSync(data.pagesFd, buf, done, len - done, at + done)
      if (n === 0) throw new Error(`${this.name}: ${data.pagesName} ends at ${at + done}, inside pid ${pid}'s pages`)
      done += n
    }
    return pages
  }

  close(): void {
    for (const t of this.tasks.values()) closeSync(t.pagesFd)
    this.tasks.clear()
    this.parent?.close()
    this.parent = undefined
  }

  abort(): void {
    this.close()
  }
}
