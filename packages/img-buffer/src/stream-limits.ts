// What `criu restore --stream` cannot restore, found after the drain and before CRIU is let in:
// a refusal now, in one line that says why and what works instead, rather than a restore that
// stops half-way with CRIU failing to read its pages (what criu-image-streamer gives too).
// Today that is private hugetlb memory (see criu-image's hugetlb.ts for what CRIU 4.1 does).
import {
  ImageError, WireError, decodeMm, decodePagemap, decodePstree, pagesFileName, privateHugetlbWithPages,
} from '@criu-pipes/criu-image'
import type { StoredFile } from './store.js'

const hex = (n: number): string => `0x${n.toString(16)}`

/** Throws if a task in the image holds pages CRIU can only restore from an image directory. */
export function refuseUnstreamable(files: ReadonlyMap<string, StoredFile>): void {
  const pstree = files.get('pstree.img')
  if (pstree === undefined) return
  for (const pid of pids(pstree)) {
    const mm = files.get(`mm-${pid}.img`)
    const pagemap = files.get(`pagemap-${pid}.img`)
    if (mm === undefined || pagemap === undefined) continue // a zombie, or not ours to judge: CRIU says
    let found
    try {
      const pm = decodePagemap(pagemap.contents(), `pagemap-${pid}.img`)
      found = { pagesId: pm.pagesId, vmas: privateHugetlbWithPages(decodeMm(mm.contents(), `mm-${pid}.img`).vmas, pm.entries) }
    } catch (e) {
      if (e instanceof ImageError || e instanceof WireError) continue
      throw e
    }
    if (found.vmas.length === 0) continue
    const where = found.vmas.map((v) => `${hex(v.start)}-${hex(v.end)}`).join(', ')
    throw new Error(
      `pid ${pid} has private MAP_HUGETLB memory with pages (${where}), which criu restore --stream cannot restore: ` +
        `CRIU reads those pages from ${pagesFileName(found.pagesId)} by offset (preadv), and a stream is a pipe; ` +
        'restore from a directory instead (img-join -D DIR, then criu restore -D DIR)',
    )
  }
}

function pids(pstree: StoredFile): number[] {
  try {
    return decodePstree(pstree.contents()).map((e) => e.pid)
  } catch (e) {
    if (e instanceof ImageError || e instanceof WireError) return []
    throw e
  }
}
