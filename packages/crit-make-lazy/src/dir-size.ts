import { lstatSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/** Apparent size of the regular files directly in `dir` (an image dir is flat; links not followed). */
export function dirSize(dir: string): number {
  let total = 0
  for (const name of readdirSync(dir)) {
    const st = lstatSync(join(dir, name))
    if (st.isFile()) total += st.size
  }
  return total
}
