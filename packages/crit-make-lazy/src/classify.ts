import { lstatSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { MakeLazyError } from './make-lazy-error.js'

/*
 * Sorts the names in an image directory (a dump, or what `img-join -D` wrote) by what happens to
 * them. Pages files are plain 'copy' here: which of them a task pagemap owns is only known once
 * its head is read.
 */

/**
 * Neither restore nor a lazy-pages daemon reads these; a stale socket would even get in the way.
 * Sockets (streamer-capture.sock, lazy-pages.socket, ...) are skipped by their type, whatever the name.
 */
const SKIPPED = [/\.log$/, /^stats-/]
const TASK_PAGEMAP = /^pagemap-(\d+)\.img$/
const SHMEM_PAGEMAP = /^pagemap-shmem-\d+\.img$/
/** CRIU's link from an incremental dump to the previous one (--prev-images-dir). */
export const PARENT_LINK = 'parent'

export interface TaskPagemap {
  name: string
  pid: number
}

export interface SrcListing {
  /** Regular files copied verbatim (task pagemaps excluded; their pages files included). */
  copy: string[]
  /** Symlinks other than `parent`, copied as links. */
  links: string[]
  parent: boolean
  taskPagemaps: TaskPagemap[]
  /** pagemap-shmem-*.img: copied verbatim, and their pages files with them. */
  shmemPagemaps: string[]
  skipped: string[]
}

export function classify(src: string): SrcListing {
  const out: SrcListing = { copy: [], links: [], parent: false, taskPagemaps: [], shmemPagemaps: [], skipped: [] }
  for (const name of readdirSync(src).sort()) {
    const st = lstatSync(join(src, name))
    if (st.isSocket() || SKIPPED.some((re) => re.test(name))) {
      out.skipped.push(name)
    } else if (st.isSymbolicLink()) {
      if (name === PARENT_LINK) out.parent = true
      else out.links.push(name)
    } else if (!st.isFile()) {
      throw new MakeLazyError(`${join(src, name)} is not a regular file; an image directory holds only files`)
    } else {
      const task = TASK_PAGEMAP.exec(name)
      if (task !== null) out.taskPagemaps.push({ name, pid: Number(task[1]) })
      else {
        if (SHMEM_PAGEMAP.test(name)) out.shmemPagemaps.push(name)
        out.copy.push(name)
      }
    }
  }
  return out
}
