// The daemon's side of lazy-pages.socket: CRIU's restore connect()s to the RELATIVE name
// "lazy-pages.socket" from inside its work dir, so we must listen on exactly that file.
import { unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { close, listenUnix, writeAll } from '@criu-pipes/sys'

export const LAZY_PAGES_SOCKET = 'lazy-pages.socket'
/** sun_path is char[108] and needs its terminating NUL when bound by name. */
const SUN_PATH_MAX = 107
/** CRIU's listen(fd, 10); only one connection is ever accepted. */
const BACKLOG = 10

export interface Listener {
  fd: number
  /** The path as bound: absolute, or relative to the work dir we chdir()ed into. */
  path: string
}

/**
 * Binds WORKDIR/lazy-pages.socket (an old socket file is replaced). A work dir too deep for
 * sun_path is handled as CRIU does it: chdir() there and bind the relative name.
 */
export function listenLazySocket(workDir: string): Listener {
  const abs = join(workDir, LAZY_PAGES_SOCKET)
  if (Buffer.byteLength(abs) <= SUN_PATH_MAX) return { fd: listenUnix(abs, 0o600, BACKLOG), path: abs }
  process.chdir(workDir)
  return { fd: listenUnix(LAZY_PAGES_SOCKET, 0o600, BACKLOG), path: LAZY_PAGES_SOCKET }
}

/** The socket file is of no use once the one connection is in. */
export function removeSocketFile(l: Listener): void {
  try { unlinkSync(l.path) } catch { /* already gone */ }
}

/** --status-fd: one \0 byte ("ready"), then close, as CRIU's status_ready() and zdtm expect. */
export function signalReady(statusFd: number | undefined): void {
  if (statusFd === undefined) return
  writeAll(statusFd, Buffer.from([0]))
  close(statusFd)
}
