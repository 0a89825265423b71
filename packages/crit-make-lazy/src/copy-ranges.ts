import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { MakeLazyError } from './make-lazy-error.js'
import type { KeptRange } from './strip-pagemap.js'

/** Large enough that syscall overhead vanishes next to the copy, small next to a GB pages file. */
export const COPY_CHUNK = 8 * 1024 * 1024

/**
 * Appends the given ranges of `srcPath` to a new file `dstPath`, chunk by chunk through one
 * reused buffer: pages files can be many GB and must never be loaded whole.
 */
export function copyRanges(srcPath: string, dstPath: string, ranges: readonly KeptRange[], mode: number, chunk = COPY_CHUNK): void {
  const buf = Buffer.allocUnsafe(chunk)
  const src = openSync(srcPath, 'r')
  try {
    const dst = openSync(dstPath, 'wx', mode)
    try {
      for (const r of ranges) {
        for (let done = 0; done < r.length; ) {
          const want = Math.min(chunk, r.length - done)
          const got = readSync(src, buf, 0, want, r.offset + done)
          if (got === 0) throw new MakeLazyError(`${srcPath}: ended at byte ${r.offset + done} while copying (file shrank?)`)
          for (let written = 0; written < got; ) written += writeSync(dst, buf, written, got - written)
          done += got
        }
      }
    } finally {
      closeSync(dst)
    }
  } finally {
    closeSync(src)
  }
}
