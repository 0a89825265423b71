// A fresh directory per test, removed at teardown (CRIU images are large: a 64 MiB workload
// makes a 64 MiB pages-1.img). Set CRIU_PIPES_KEEP_TMP=1 to keep them for a post-mortem.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The part of a tap Test the harness uses (kept structural so any tap version fits). */
export interface TeardownHost {
  teardown(fn: () => void | Promise<void>): void
}

export function tmpDir(t: TeardownHost, prefix = 'criu-pipes-e2e-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => {
    if (process.env.CRIU_PIPES_KEEP_TMP === '1') console.error(`# kept ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
  })
  return dir
}
