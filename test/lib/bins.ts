// The project's binaries, run the way users run them: through bash, so that shards and pipes are
// real pipes or files (execa's own stdio would be socketpairs, which splice(2) refuses).
import { join } from 'node:path'
import { once } from 'node:events'
import { repoRoot } from './paths.js'
import { shell } from './shell.js'

const PACKAGE_OF: Record<string, string> = {
  'img-split': 'img-split', 'img-join': 'img-join', 'img-buffer': 'img-buffer',
  'uffd-serve': 'uffd-serve', 'crit-make-lazy': 'crit-make-lazy', 'criu-image-streamer': 'criu-image-streamer',
}

/** `node <repo>/packages/<pkg>/bin/<name>.js`, ready to paste into a shell command. */
export function bin(name: keyof typeof PACKAGE_OF | string): string {
  const pkg = PACKAGE_OF[name]
  if (!pkg) throw new Error(`no binary ${name}`)
  return `node ${join(repoRoot(), 'packages', pkg, 'bin', `${name}.js`)}`
}

export interface BinResult { exitCode: number; stdout: string; stderr: string }

/**
 * Starts a shell command in the background and resolves once the process exists, so the caller
 * may then block the event loop (the CRIU simulator is synchronous) without stalling the spawn.
 */
export async function startShell(cmd: string, opts: { timeoutMs?: number } = {}): Promise<{ done: Promise<BinResult>; pid: number }> {
  const child = shell(cmd, { reject: false, stdin: 'ignore', timeout: opts.timeoutMs ?? 120_000 })
  await once(child, 'spawn')
  const done = child.then(r => ({ exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) }))
  return { done, pid: child.pid! }
}
