import { COPYFILE_EXCL } from 'node:constants'
import { chmodSync, copyFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { closeQuietly, openPrivateDir, pathAt } from '@criu-pipes/sys'
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
  // Both directories pass the trust rule (see openPrivateDir) and are used through their fds:
  // SRC is read, and DST built and renamed, in the directories that were checked.
  const srcFd = checkSrc(src)
  let parentFd = -1
  let building = ''
  try {
    checkDst(src, dst)
    parentFd = openPrivateDir(dirname(resolve(dst)))
    return makeLazyIn(pathAt(srcFd), src, parentFd, dst, (tmp) => { building = tmp })
  } catch (e) {
    // Name the directories as the user did, not by the /proc/self/fd paths used to reach them.
    if (e instanceof Error) {
      e.message = e.message.replaceAll(pathAt(srcFd), src)
      if (building) e.message = e.message.replaceAll(building, dst)
    }
    throw e
  } finally {
    closeQuietly(srcFd)
    closeQuietly(parentFd)
  }
}

function makeLazyIn(from: string, src: string, parentFd: number, dst: string, onTmp: (tmp: string) => void): MakeLazyResult {
  const listing = classify(from)
  const plans = planPagemaps(from, listing)
  const rewritten = new Set(plans.map((p) => p.pagesName))
  const mode = (name: string): number => statSync(join(from, name)).mode & PERMISSION_BITS

  buildThenRename(parentFd, basename(resolve(dst)), (tmp) => {
    onTmp(tmp)
    for (const name of listing.copy) {
      if (!rewritten.has(name)) copyFileSync(join(from, name), join(tmp, name), COPYFILE_EXCL)
    }
    for (const name of listing.links) symlinkSync(readlinkSync(join(from, name)), join(tmp, name))
    if (listing.parent) {
      symlinkSync(parentLinkTarget(src, dst, readlinkSync(join(from, PARENT_LINK))), join(tmp, PARENT_LINK))
    }
    for (const p of plans) {
      writeFileSync(join(tmp, p.pagemapName), p.pagemap, { mode: mode(p.pagemapName), flag: 'wx' })
      if (p.hasPages) copyRanges(join(from, p.pagesName), join(tmp, p.pagesName), p.keep, mode(p.pagesName))
    }
    chmodSync(tmp, statSync(from).mode & PERMISSION_BITS)
  })
  return { srcBytes: dirSize(from), dstBytes: dirSize(dst), lazyPages: plans.reduce((n, p) => n + p.strippedPages, 0) }
}
