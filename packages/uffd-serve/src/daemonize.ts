// -d/--daemon: Node cannot fork(), so the daemon is a detached copy of this command without -d.
// The parent waits until the copy listens (its status byte), writes --pidfile with the copy's pid,
// passes readiness on to its own --status-fd, and exits: what `criu lazy-pages -d` looks like
// from outside. If the copy fails first, its error becomes ours.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { signalReady } from './listen.js'
import type { Options } from './options.js'

/** The fd the detached copy gets for its status byte (0-2 are its stdio). */
const CHILD_STATUS_FD = 3

/** argv without -d/--daemon and --status-fd (the copy gets its own). */
export function daemonArgs(argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '-d' || a === '--daemon' || a === '--daemon=true') continue
    if (a === '--status-fd') { i++; continue }
    if (a.startsWith('--status-fd=')) continue
    out.push(a)
  }
  return [...out, '--status-fd', String(CHILD_STATUS_FD)]
}

function collect(stream: Readable | null): () => string {
  const chunks: Buffer[] = []
  stream?.on('data', (b: Buffer) => chunks.push(b))
  return () => Buffer.concat(chunks).toString().trim()
}

/** Starts the detached daemon and resolves with its pid once it listens. */
export async function daemonize(argv: readonly string[], opts: Options): Promise<number> {
  const script = process.argv[1]!
  const child = spawn(process.execPath, [script, ...daemonArgs(argv)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  })
  const stderr = collect(child.stderr)
  const status = child.stdio[CHILD_STATUS_FD] as Readable
  const ready = await new Promise<boolean>((resolve) => {
    status.once('data', (b: Buffer) => resolve(b[0] === 0))
    status.once('end', () => resolve(false))
    child.once('exit', () => resolve(false))
  })
  if (!ready || child.pid === undefined) {
    const why = stderr().replace(/^uffd-serve: /, '')
    throw new Error(`the daemon did not start${why ? `: ${why}` : ''}`)
  }
  status.destroy()
  child.stderr?.destroy()
  child.unref()
  if (opts.pidfile !== undefined) writeFileSync(opts.pidfile, `${child.pid}`)
  signalReady(opts.statusFd)
  return child.pid
}
