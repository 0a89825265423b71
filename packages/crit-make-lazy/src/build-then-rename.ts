import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { O_RDONLY, S_IFREG, closeQuietly, fsync, listAt, mkdirAt, openAt, openDirAt, pathAt, renameAt } from '@criu-pipes/sys'

/**
 * Builds a directory in a temp dir next to DST (`name` in the checked directory open at
 * `parentFd`: same filesystem, so the rename is atomic) and renames it to DST at the end: a
 * failure at any point leaves no half-written DST. rename(2) replaces an empty directory and
 * refuses a non-empty one, so a DST filled meanwhile is not lost. `build` gets the temp dir as a
 * path through its fd. Every file and the directory are fsynced before the rename, the parent
 * after it: once we report success, a power cut cannot leave a DST that looks complete and is not.
 */
export function buildThenRename(parentFd: number, name: string, build: (tmp: string) => void): void {
  const tmpName = `.${name}.crit-make-lazy-${randomBytes(6).toString('hex')}`
  mkdirAt(parentFd, tmpName, 0o700)
  const tmpFd = openDirAt(parentFd, tmpName)
  try {
    build(pathAt(tmpFd))
    syncFilesIn(tmpFd)
    renameAt(parentFd, tmpName, parentFd, name)
    fsync(parentFd)
  } catch (e) {
    rmSync(pathAt(parentFd, tmpName), { recursive: true, force: true })
    throw e
  } finally {
    closeQuietly(tmpFd)
  }
}

/** fsync(2) of every regular file in a directory, then of the directory (its entries). */
export function syncFilesIn(dirFd: number): void {
  for (const e of listAt(dirFd)) {
    if (e.type !== S_IFREG) continue
    const fd = openAt(dirFd, e.name, O_RDONLY)
    try { fsync(fd, e.name) } finally { closeQuietly(fd) }
  }
  fsync(dirFd)
}
