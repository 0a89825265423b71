// Compiles test/fixtures/memhog.c once per source version: the binary is cached in
// <tmpdir>/criu-pipes-build-<hash of the source>/, so parallel test files and later runs
// reuse it, and an edit to the source builds a new one.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { repoRoot } from './paths.js'

const builds = new Map<string, Promise<string>>()

/** Path of the compiled fixture `test/fixtures/<name>.c` (default memhog), built with `cc -O2`. */
export function buildWorkload(name = 'memhog'): Promise<string> {
  let p = builds.get(name)
  if (!p) {
    p = build(name)
    builds.set(name, p)
    p.catch(() => builds.delete(name)) // let a later call retry
  }
  return p
}

async function build(name: string): Promise<string> {
  const src = join(repoRoot(), 'test', 'fixtures', `${name}.c`)
  const header = join(repoRoot(), 'test', 'fixtures', 'workload.h')
  const hash = createHash('sha256').update(readFileSync(src)).update(readFileSync(header)).digest('hex').slice(0, 16)
  const dir = join(tmpdir(), `criu-pipes-build-${hash}`)
  const bin = join(dir, name)
  if (existsSync(bin)) return bin
  mkdirSync(dir, { recursive: true })
  // build under a unique name, then rename: another test process may be building it too
  const tmp = `${bin}.${process.pid}.tmp`
  const r = await execa('cc', ['-O2', '-Wall', '-o', tmp, src], { reject: false, all: true })
  if (r.failed) throw new Error(`cc -O2 ${src} failed: ${r.shortMessage}\n${r.all ?? ''}`)
  renameSync(tmp, bin)
  return bin
}
