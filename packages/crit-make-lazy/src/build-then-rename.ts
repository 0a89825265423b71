import { mkdtempSync, renameSync, rmSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'

/**
 * Builds a directory in a temp dir next to `dst` (same filesystem, so the rename is atomic) and
 * renames it to `dst` at the end: a failure at any point leaves no half-written `dst`. rename(2)
 * replaces an empty directory and refuses a non-empty one, so a DST filled meanwhile is not lost.
 */
export function buildThenRename(dst: string, build: (tmp: string) => void): void {
  const target = resolve(dst)
  const tmp = mkdtempSync(join(dirname(target), `.${basename(target)}.crit-make-lazy-`))
  try {
    build(tmp)
    renameSync(tmp, target)
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true })
    throw e
  }
}
