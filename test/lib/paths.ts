// Where things are: the repo root (found from this file, so it also works when a package's
// tests import the harness through node_modules/@criu-pipes/e2e, which Node resolves to
// the real path) and the CRIU binary every test must use.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

let root: string | undefined

/** The monorepo root: the nearest ancestor holding pnpm-workspace.yaml. */
export function repoRoot(): string {
  if (root) return root
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'pnpm-workspace.yaml'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error(`no pnpm-workspace.yaml above ${fileURLToPath(import.meta.url)}`)
    dir = up
  }
  return (root = dir)
}

/** $CRIU if set, else <repo>/.criu/bin/criu (scripts/install-criu.sh), else `criu` on PATH. */
export function criuBin(): string {
  if (process.env.CRIU) return process.env.CRIU
  const own = join(repoRoot(), '.criu', 'bin', 'criu')
  return existsSync(own) ? own : 'criu'
}

/**
 * The CRIU release `rel` that scripts/install-criu.sh keeps side by side (.criu/<rel>/bin/criu,
 * e.g. 4.1.1): tests that must also pass on an older CRIU run with $CRIU set to it.
 */
export function criuRelease(rel: string): string {
  return join(repoRoot(), '.criu', rel, 'bin', 'criu')
}
