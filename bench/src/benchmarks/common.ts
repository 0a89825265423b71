// Pieces the real-CRIU benchmarks share: a memhog workload that is a child of the bench (so it
// is reaped at once when a dump kills it, and its pid can be restored), the image helpers, and a
// started pipeline that must not be left behind.
import { readdirSync, lstatSync } from 'node:fs'
import { join } from 'node:path'
import { startWorkload, workloadFromPid, type Workload, type WorkloadMemory } from '@criu-pipes/e2e/harness'
import type { Ctx } from '../context.js'
import { toMib } from '../lib/units.js'
import type { Group } from '../lib/procs.js'
import { readOr } from '../lib/wait.js'

/** A fresh memhog of the workload size (or `bytes`), ready (its memory written: the pattern, or mixed). */
export async function freshMemhog(ctx: Ctx, name: string, memory: WorkloadMemory = 'pattern', bytes = ctx.sizes.workload): Promise<Workload> {
  const w = await startWorkload({ mib: toMib(bytes), dir: ctx.work.sub(name), memory })
  await w.waitReady(300_000)
  return w
}

/** The restored task as a workload (verify() through its log); its `exited` is not awaited. */
export function restored(pid: number, logPath: string): Workload {
  return workloadFromPid(pid, logPath)
}

export function expectVerified(line: string, npages: number): void {
  if (line !== `verified ${npages} ok`) throw new Error(`the restored workload says "${line}", expected "verified ${npages} ok"`)
}

export function npagesOf(ctx: Ctx): number {
  return (toMib(ctx.sizes.workload) * 1048576) / 4096
}

/** Apparent size of the regular files in an image directory (logs excluded). */
export function imageDirSize(dir: string): number {
  let total = 0
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.log')) continue
    const st = lstatSync(join(dir, name))
    if (st.isFile()) total += st.size
  }
  return total
}

/** Throws if a pipeline we started has already ended (so waiting on it is pointless). */
export function deadGroup(g: { ended: boolean; stderrFile?: string }): string | undefined {
  if (!g.ended) return undefined
  return `the pipeline ended early${g.stderrFile ? `: ${readOr(g.stderrFile).trim().slice(-400)}` : ''}`
}

/** Tracks whether a started group has ended. */
export function watch(g: Group, stderrFile?: string): { ended: boolean; stderrFile?: string } {
  const s: { ended: boolean; stderrFile?: string } = { ended: false, ...(stderrFile ? { stderrFile } : {}) }
  void g.done.then(() => { s.ended = true })
  return s
}
