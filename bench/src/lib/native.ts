// The bench's C helpers (bench/native/*.c), compiled with `cc -O2` at bench time and cached per
// source version in <tmpdir>/criu-pipes-bench-build-<hash>/, like the harness builds memhog.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { repoRoot } from '@criu-pipes/e2e/harness'

export const NATIVE_PROGRAMS = ['measure', 'drain', 'producer', 'capture-c', 'faulttouch', 'delay-relay'] as const
export type NativeProgram = (typeof NATIVE_PROGRAMS)[number]
export type Natives = Record<NativeProgram, string>

export function nativeDir(): string {
  return join(repoRoot(), 'bench', 'native')
}

/** Compiles every helper (once per source version) and returns their paths. */
export async function buildNatives(): Promise<Natives> {
  const src = nativeDir()
  const hash = createHash('sha256')
  for (const f of readdirSync(src).filter((n) => /\.[ch]$/.test(n)).sort()) hash.update(f).update(readFileSync(join(src, f)))
  hash.update(readFileSync(join(src, '..', '..', 'test', 'fixtures', 'workload.h'))) // faulttouch.c includes it
  const dir = join(tmpdir(), `criu-pipes-bench-build-${hash.digest('hex').slice(0, 16)}`)
  mkdirSync(dir, { recursive: true })
  const out = {} as Natives
  await Promise.all(NATIVE_PROGRAMS.map(async (name) => {
    const bin = join(dir, name)
    out[name] = bin
    if (existsSync(bin)) return
    const tmp = `${bin}.${process.pid}.tmp`
    const r = await execa('cc', ['-O2', '-Wall', '-Wextra', '-o', tmp, join(src, `${name}.c`)], { reject: false, all: true })
    if (r.failed) throw new Error(`cc -O2 bench/native/${name}.c failed: ${r.shortMessage}\n${r.all ?? ''}`)
    renameSync(tmp, bin)
  }))
  return out
}
