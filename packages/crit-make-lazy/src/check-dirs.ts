import { existsSync, lstatSync, readFileSync, readdirSync, realpathSync, statSync, type Stats } from 'node:fs'
import { basename, dirname, join, resolve, sep } from 'node:path'
import { CRTOOLS_IMAGES_V1_1, decodeInventory } from '@criu-pipes/criu-image'
import { close, openPrivateDir, pathAt, statAt } from '@criu-pipes/sys'
import { MakeLazyError } from './make-lazy-error.js'

/**
 * SRC must be a directory that passes the trust rule (see openPrivateDir) and a CRIU image
 * directory this tool understands: its inventory says so. Returns SRC open as a directory fd,
 * through which it is read from now on (the caller closes it).
 */
export function checkSrc(src: string): number {
  if (!existsSync(src) || !statSync(src).isDirectory()) throw new MakeLazyError(`${src} is not a directory`)
  const fd = openPrivateDir(src)
  try {
    if (statAt(fd, 'inventory.img') === null) throw new MakeLazyError(`${src} is not a CRIU image directory: no inventory.img`)
    const inventory = join(src, 'inventory.img')
    const { imgVersion, compress, compressBlockSize } = decodeInventory(readFileSync(pathAt(fd, 'inventory.img')), inventory)
    // CRIU 4.3 --compress: the pages files hold LZ4 blocks, not the raw pages this tool slices.
    if (compress !== undefined && compress !== 0) {
      const blocks = compressBlockSize === undefined ? '' : `, ${compressBlockSize}-byte blocks`
      throw new MakeLazyError(`${inventory}: memory pages compressed by CRIU --compress (LZ4${blocks}), which crit-make-lazy cannot read; dump without --compress`)
    }
    if (imgVersion !== CRTOOLS_IMAGES_V1_1) {
      throw new MakeLazyError(`${inventory}: img_version ${imgVersion} is not supported (expected ${CRTOOLS_IMAGES_V1_1})`)
    }
    return fd
  } catch (e) {
    close(fd)
    throw e
  }
}

/**
 * DST may be absent or an empty directory, never anything with content: the tool builds DST
 * elsewhere and renames it into place, and will not destroy what is there.
 */
export function checkDst(src: string, dst: string): void {
  const parent = dirname(resolve(dst))
  if (!existsSync(parent) || !statSync(parent).isDirectory()) throw new MakeLazyError(`${parent} (where DST goes) is not a directory`)
  const st = lstatOrUndefined(dst)
  if (st !== undefined) {
    if (!st.isDirectory()) throw new MakeLazyError(`${dst} exists and is not a directory`)
    if (readdirSync(dst).length > 0) throw new MakeLazyError(`${dst} exists and is not empty; refusing to overwrite it`)
  }
  const srcReal = realpathSync(src)
  const dstReal = join(realpathSync(parent), basename(resolve(dst)))
  if (dstReal === srcReal || dstReal.startsWith(srcReal + sep)) throw new MakeLazyError(`${dst} is inside ${src}`)
}

/** lstat, so a symlink (even a dangling one) at DST counts as something in the way. */
function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
}
