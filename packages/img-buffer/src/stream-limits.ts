// What `criu restore --stream` cannot restore, found after the drain and before CRIU is let in:
// a refusal now, in one line that says why and what works instead, rather than a restore that
// stops half-way with CRIU failing to read its pages (what criu-image-streamer gives too).
// Today that is private hugetlb memory (see criu-image's hugetlb.ts for what CRIU 4.1 does), and
// pages CRIU 4.3 --compress stored in blocks of more than one page (the default of a dump to a
// directory): CRIU 4.3 restores compressed pages from a stream only one page a block ("Streaming
// restore does not support multi-page block compression"), as --stream and --page-server dump them.
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
      found = { pm, vmas: privateHugetlbWithPages(decodeMm(mm.contents(), `mm-${pid}.img`).vmas, pm.entries) }
    } catch (e) {
      if (e instanceof ImageError || e instanceof WireError) continue
      throw e
    }
    const big = found.pm.entries.find((e) => e.blocks !== undefined && e.blocks.pagesPerBlock > 1)
    if (big?.blocks !== undefined) {
      throw new Error(
        `pid ${pid} has memory pages compressed by CRIU --compress in blocks of ${big.blocks.pagesPerBlock} pages ` +
          `(at ${hex(big.vaddr)}), which criu restore --stream cannot restore: CRIU 4.3 streams compressed pages one page a block; ` +
          'dump with --compress-block 4096, or restore from a directory (img-join -D DIR, then criu restore -D DIR)',
      )
    }
    if (found.vmas.length === 0) continue
    const where = found.vmas.map((v) => `${hex(v.start)}-${hex(v.end)}`).join(', ')
    throw new Error(
      `pid ${pid} has private MAP_HUGETLB memory with pages (${where}), which criu restore --stream cannot restore: ` +
        `CRIU reads those pages from ${pagesFileName(found.pm.pagesId)} by offset (preadv), and a stream is a pipe; ` +
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
