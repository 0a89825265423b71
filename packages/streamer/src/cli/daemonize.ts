// -d/--daemon, one way for every server (img-split, img-buffer, uffd-serve): Node cannot fork(),
// so the daemon is a detached copy of this command (its own session, as setsid(2) gives) without
// -d. The starter waits until the copy listens (a status byte on a pipe), writes --pidfile with
// the copy's pid, and exits 0: what `criu lazy-pages -d` looks like from outside, so the next
// line of a script can start CRIU at once. If the copy fails first, its error becomes ours, and
// nothing is left running. A pid file we cannot write (ENOSPC) fails the start too: the copy is
// killed, since nothing may stay behind that nobody knows of.
import { spawn, type StdioOptions } from 'node:child_process'
import { readSync, readdirSync } from 'node:fs'
import { close, setCloseOnExec, writeAll } from '@criu-pipes/sys'
import type { Readable } from 'node:stream'
import type { Pidfile } from './pidfile.js'

/** Passed to the detached copy (hidden option): it is the daemon, and must not start another. */
export const DETACHED_OPTION = 'detached-daemon'

export interface DaemonStart {
  /** Our argv, without node and the script. */
  argv: readonly string[]
  /** Options with a value that are the starter's, not the copy's (the pid file, readiness). */
  starterOnly: readonly string[]
  /** fds the copy gets at the same numbers: shards, external files, progress, page channels. */
  keepFds: readonly number[]
  /**
   * The copy's stderr. 'pipe': to us until it is ready (it must move its stderr elsewhere before
   * it says so, since our end goes away with us). A number: an fd of ours open read-write on the
   * daemon's log file, where the copy writes from the start; a failure is read back from it.
   */
  stderr: 'pipe' | number
  /** The options telling the copy where to write its status byte (`\0`: listening). */
  statusArgs: (fd: number) => string[]
}

/** The copy's argv: ours without -d and the starter's options, told it is the copy and where its status fd is. */
export function copyArgv(start: DaemonStart, statusFd: number): string[] {
  // A command after `--` (uffd-serve --page-server -- criu ...) is passed on as it is, after ours.
  const end = start.argv.indexOf('--')
  const ours = end < 0 ? start.argv : start.argv.slice(0, end)
  const command = end < 0 ? [] : start.argv.slice(end)
  return [...withoutStarterOptions(ours, start.starterOnly), `--${DETACHED_OPTION}`, ...start.statusArgs(statusFd), ...command]
}

/** argv without -d/--daemon and the starter's own options (with their values). */
function withoutStarterOptions(argv: readonly string[], starterOnly: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '-d' || a === '--daemon' || a === '--daemon=true') continue
    if (starterOnly.includes(a)) { i++; continue }
    if (starterOnly.some((o) => a.startsWith(`${o}=`))) continue
    out.push(a)
  }
  return out
}

function collect(stream: Readable | null): () => string {
  const chunks: Buffer[] = []
  stream?.on('data', (b: Buffer) => chunks.push(b))
  return () => Buffer.concat(chunks).toString()
}

/** What a log file opened read-write holds (the copy's error, when it failed before listening). */
function readBack(fd: number): string {
  const buf = Buffer.alloc(LOG_TAIL)
  let n = 0
  try { n = readSync(fd, buf, 0, buf.length, 0) } catch { /* nothing to say */ }
  return buf.subarray(0, n).toString()
}
/** Enough of a log for the one line a failed start writes (and a little before it). */
const LOG_TAIL = 64 * 1024

/** The last line `bin: ...` of what the copy said, without the prefix. */
function lastError(bin: string, text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '')
  const mine = lines.filter((l) => l.startsWith(`${bin}: `))
  return (mine.at(-1) ?? lines.at(-1) ?? '').replace(`${bin}: `, '')
}

/**
 * Node starts a program with every fd not marked close-on-exec, and our dups of stdin, stdout and
 * stderr (the default shard and progress fds) are not: the copy would hold the pipes of whoever
 * started us (a `$(...)`, an ssh session) open, and they would wait for it. So it gets exactly the
 * fds we name. The starter exits right after, so marking its own fds costs nothing.
 */
function closeOthersOnExec(keep: ReadonlySet<number>): void {
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name)
    if (fd <= 2 || keep.has(fd)) continue
    try { setCloseOnExec(fd) } catch { /* the fd that listed the directory, closed since */ }
  }
}

/** Starts the detached daemon and resolves with its pid once it listens; throws why it did not. */
export async function daemonize(bin: string, start: DaemonStart, pidfile: Pidfile | undefined): Promise<number> {
  const script = process.argv[1]!
  const keep = new Set(start.keepFds)
  // The status pipe goes above every kept fd; the rest of the copy's fds below it are /dev/null.
  const statusFd = Math.max(2, ...keep) + 1
  const stdio: StdioOptions = Array.from({ length: statusFd + 1 }, (_, fd) =>
    fd === statusFd ? 'pipe' : fd === 2 ? start.stderr : keep.has(fd) ? fd : 'ignore')
  closeOthersOnExec(keep)
  const child = spawn(process.execPath, [script, ...copyArgv(start, statusFd)], {
    detached: true,
    stdio,
  })
  const stderr = start.stderr === 'pipe' ? collect(child.stderr) : () => readBack(start.stderr as number)
  const status = child.stdio[statusFd] as Readable
  const ready = await new Promise<boolean>((resolve) => {
    status.once('data', (b: Buffer) => resolve(b[0] === 0))
    status.once('end', () => resolve(false))
    child.once('exit', () => resolve(false))
  })
  if (!ready || child.pid === undefined) {
    const why = lastError(bin, stderr())
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
  return child.pid
}

/** A status fd: one \0 byte ("ready"), then close, as CRIU's status_ready() and zdtm expect. */
export function signalReady(statusFd: number | undefined): void {
  if (statusFd === undefined) return
  writeAll(statusFd, Buffer.from([0]))
  close(statusFd)
}
