import { COPYFILE_EXCL } from 'node:constants'
import { chmodSync, copyFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildThenRename } from './build-then-rename.js'
import { PARENT_LINK, classify } from './classify.js'
import { checkDst, checkSrc } from './check-dirs.js'
import { copyRanges } from './copy-ranges.js'
import { dirSize } from './dir-size.js'
import { parentLinkTarget } from './parent-link.js'
import { planPagemaps } from './plan-pagemaps.js'

export interface MakeLazyResult {
  /** Bytes of regular files in SRC and in DST. */
  srcBytes: number
  dstBytes: number
  /** Pages that only a lazy-pages daemon reading SRC can now provide. */
  lazyPages: number
}

/** Mode bits of a file, for giving a rewritten file the permissions of the one it replaces. */
const PERMISSION_BITS = 0o7777

/**
 * Writes DST as `criu dump --lazy-pages` would have (reference notes 2.3): every file of SRC
 * copied, except that LAZY|PRESENT pages are dropped from task pagemaps and their pages files.
 * Everything is checked before the first byte is written, and DST appears only when complete.
 */
export function makeLazy(src: string, dst: string): MakeLazyResult {
  checkSrc(src)
  checkDst(src, dst)
  const listing = classify(src)
  const plans = planPagemaps(src, listing)
  const rewritten = new Set(plans.map((p) => p.pagesName))
  const mode = (name: string): number => statSync(join(src, name)).mode & PERMISSION_BITS

  buildThenRename(dst, (tmp) => {
    for (const name of listing.copy) {
      if (!rewritten.has(name)) copyFileSync(join(src, name), join(tmp, name), COPYFILE_EXCL)
    }
    for (const name of listing.links) symlinkSync(readlinkSync(join(src, name)), join(tmp, name))
    if (listing.parent) {
      symlinkSync(parentLinkTarget(src, dst, readlinkSync(join(src, PARENT_LINK))), join(tmp, PARENT_LINK))
    }
    for (const p of plans) {
      writeFileSync(join(tmp, p.pagemapName), p.pagemap, { mode: mode(p.pagemapName), flag: 'wx' })
      if (p.hasPages) copyRanges(join(src, p.pagesName), join(tmp, p.pagesName), p.keep, mode(p.pagesName))
    }
    chmodSync(tmp, statSync(src).mode & PERMISSION_BITS)
  })
  return { srcBytes: dirSize(src), dstBytes: dirSize(dst), lazyPages: plans.reduce((n, p) => n + p.strippedPages, 0) }
}
