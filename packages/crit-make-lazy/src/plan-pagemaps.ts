import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { decodeMm, decodePagemap, pagesFileName } from '@criu-pipes/criu-image'
import type { SrcListing } from './classify.js'
import { MakeLazyError } from './make-lazy-error.js'
import { stripPagemap, type StrippedPagemap } from './strip-pagemap.js'

export interface PagemapPlan extends StrippedPagemap {
  pagemapName: string
  pagesName: string
  /** Whether SRC has the pages file (a task with no present pages may have none). */
  hasPages: boolean
}

/**
 * Decides, for every task pagemap, the new pagemap and which bytes of its pages file survive,
 * and checks each pages file holds exactly what its pagemap accounts for, before anything is
 * written. Shmem pagemaps are never lazy; their pages files only must not be claimed by a task.
 */
export function planPagemaps(src: string, listing: SrcListing): PagemapPlan[] {
  const owners = new Map<string, string>()
  for (const name of listing.shmemPagemaps) {
    owners.set(pagesFileName(decodePagemap(readFileSync(join(src, name)), join(src, name)).pagesId), name)
  }
  return listing.taskPagemaps.map(({ name, pid }) => {
    const path = join(src, name)
    const mmPath = join(src, `mm-${pid}.img`)
    const stripped = stripPagemap(readFileSync(path), path, () => {
      if (!existsSync(mmPath)) throw new MakeLazyError(`${mmPath} is missing; it says which pages may be lazy`)
      return decodeMm(readFileSync(mmPath), mmPath).vmas
    })
    const pagesName = pagesFileName(stripped.pagesId)
    const owner = owners.get(pagesName)
    if (owner !== undefined) throw new MakeLazyError(`${name} and ${owner} both claim ${pagesName}`)
    owners.set(pagesName, name)
    const pagesPath = join(src, pagesName)
    const hasPages = existsSync(pagesPath)
    const size = hasPages ? statSync(pagesPath).size : 0
    const need = stripped.srcPagesBytes
    if (!hasPages && need > 0) throw new MakeLazyError(`${pagesPath} is missing; ${name} needs ${need} bytes from it`)
    if (size < need) throw new MakeLazyError(`${pagesPath} is truncated: ${size} bytes, ${name} accounts for ${need}`)
    if (size > need) throw new MakeLazyError(`${pagesPath} has ${size - need} bytes beyond the ${need} that ${name} accounts for`)
    return { ...stripped, pagemapName: name, pagesName, hasPages }
  })
}
