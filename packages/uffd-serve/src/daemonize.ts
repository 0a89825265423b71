// -d/--daemon: Node cannot fork(), so the daemon is a detached copy of this command without -d.
// The parent waits until the copy listens (its status byte), writes --pidfile with the copy's pid,
// passes readiness on to its own --status-fd, and exits: what `criu lazy-pages -d` looks like
// from outside. If the copy fails first, its error becomes ours. The copy's stderr is a pipe to
// us until then; it moves its stderr to its log (or /dev/null) before it says it is ready, since
// our end of that pipe goes away with us. A pid file we cannot write (ENOSPC) fails the start,
// and then no daemon may stay behind listening: it is killed first.
import { spawn } from 'node:child_process'
import type { Readable } from 'node:stream'
import { signalReady } from './listen.js'
import { DETACHED_OPTION } from './options.js'
import type { Options } from './options.js'
import type { Pidfile } from './pidfile.js'

/** The fd the detached copy gets for its status byte (0-2 are its stdio). */
const CHILD_STATUS_FD = 3

/** Options with a value that are ours, not the copy's: readiness and the pid file are the starter's. */
const STARTER_ONLY = ['--status-fd', '--pidfile']

/** argv without -d/--daemon, --status-fd (the copy gets its own) and --pidfile (we write it). */
export function daemonArgs(argv: readonly string[]): string[] {
  const out: string[] = []
  // A CRIU command after `--` (--page-server -- criu ...) is passed on as it is, after ours.
  const end = argv.indexOf('--')
  const criu = end < 0 ? [] : argv.slice(end)
  for (let i = 0; i < (end < 0 ? argv.length : end); i++) {
    const a = argv[i]!
    if (a === '-d' || a === '--daemon' || a === '--daemon=true') continue
    if (STARTER_ONLY.includes(a)) { i++; continue }
    if (STARTER_ONLY.some((o) => a.startsWith(`${o}=`))) continue
    out.push(a)
  }
  return [...out, `--${DETACHED_OPTION}`, '--status-fd', String(CHILD_STATUS_FD), ...criu]
}

function collect(stream: Readable | null): () => string {
  const chunks: Buffer[] = []
  stream?.on('data', (b: Buffer) => chunks.push(b))
  return () => Buffer.concat(chunks).toString().trim()
}

/** Starts the detached daemon and resolves with its pid once it listens. */
export async function daemonize(argv: readonly string[], opts: Options, pidfile: Pidfile | undefined): Promise<number> {
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
  try {
    pidfile?.write(child.pid)
  } catch (e) {
    process.kill(child.pid, 'SIGKILL')
    throw new Error(`cannot write pid file ${pidfile!.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; the daemon (pid ${child.pid}) was killed`)
  }
  signalReady(opts.statusFd)
  return child.pid
}
