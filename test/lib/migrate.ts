// img-migrate between two hosts for the e2e tests (test/e2e/migrate*.test.ts): the binaries on a
// private PATH, the two hosts (two-hosts.ts, a real sshd), img-migrate run beside the workload
// with ssh from the source host as its channel, and a cutter that ends the channel early.
import type { Test } from 'tap'
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { needCriu } from './criu-available.js'
import { criuBin, repoRoot } from './paths.js'
import { shell } from './shell.js'
import { tmpDir } from './tmp-dir.js'
import { twoHostsUp, type TwoHosts } from './two-hosts.js'

const IMG_MIGRATE = join(repoRoot(), 'packages', 'img-migrate', 'bin', 'img-migrate.js')
/** Cuts the channel towards the destination after this many bytes: inside the first 64 MiB round (or page stream). */
export const CUT_AFTER = 20 << 20
/**
 * The cutter: ssh reads what dd passes on, and dd alone holds the channel's read end (a
 * `dd | ssh` pipeline would not do: the shell running it keeps its stdin open, unread, and the
 * source's writes would block instead of failing). Not head -c: it holds small reads back in
 * its stdio buffer, the hello among them.
 */
const CUTTER = `#!/bin/bash\nexec "$@" < <(dd bs=64K iflag=count_bytes count=${CUT_AFTER} status=none)\n`

export interface MigrateSetup { run: string; hosts: TwoHosts; bindir: string }
export interface MigrateRun { exitCode: number; stderr: string; summary: Record<string, unknown> | null }

/** The two hosts and the binaries; null (the test planned away) without CRIU or root. */
export async function migrateSetUp(t: Test, prefix: string): Promise<MigrateSetup | null> {
  if (!(await needCriu(t))) return null
  if (process.getuid?.() !== 0) { t.plan(0, 'needs root (network namespaces)'); return null }
  const run = tmpDir(t)
  const bindir = join(run, 'bin')
  mkdirSync(bindir)
  symlinkSync(IMG_MIGRATE, join(bindir, 'img-migrate'))
  symlinkSync(criuBin(), join(bindir, 'criu'))
  writeFileSync(join(bindir, 'cut-channel'), CUTTER, { mode: 0o755 })
  const hosts = await twoHostsUp(t, { path: bindir, prefix })
  return { run, hosts, bindir }
}

/**
 * img-migrate beside the workload (CRIU dumps a task of its own network namespace), its channel
 * ssh from the source host; `via` goes in front of that ssh (a channel cutter); `workDir` is the
 * destination's -W (default RUN/dst-work); `dstArgs` more of the destination's options (--decrypt).
 */
export async function runMigrate(s: MigrateSetup, pid: number, args: string, via = '', workDir = join(s.run, 'dst-work'), dstArgs = ''): Promise<MigrateRun> {
  const to = `${via}${s.hosts.sshDst} img-migrate --receive -W ${workDir}${dstArgs ? ` ${dstArgs}` : ''}`
  const r = await shell(`PATH=${s.bindir}:$PATH img-migrate -t ${pid} --to '${to}' ${args} -p 3 3>${join(s.run, 'summary.json')}`,
    { reject: false, timeout: 240_000 })
  let summary: Record<string, unknown> | null = null
  try { summary = JSON.parse(readFileSync(join(s.run, 'summary.json'), 'utf8')) as Record<string, unknown> } catch { /* none on failure */ }
  return { exitCode: r.exitCode ?? -1, stderr: String(r.stderr), summary }
}

export function workDirEmpty(t: Test, workDir: string): void {
  let left: string[] = []
  try { left = readdirSync(workDir) } catch { /* never created: empty too */ }
  t.same(left, [], 'the destination\'s work dir holds nothing')
}
