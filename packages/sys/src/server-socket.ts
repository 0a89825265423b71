// The sockets clients find by name: streamer-capture.sock and streamer-serve.sock (CRIU), the
// post-dump hook's sync socket, lazy-pages.socket. Each lives in a directory checked with
// openPrivateDir and held by fd, is never put over a live one (another server owns that name
// now: two servers on one name would hand CRIU to the wrong one), replaces a stale one (left by a
// server that died), and is removed on every way out: success, error, process.exit, and
// SIGINT/SIGTERM/SIGHUP while we wait for the client. A signal during the synchronous data phase
// ends the process at once (Node runs no JS handler while a synchronous loop holds the thread);
// by then the CRIU sockets are gone already (removed as soon as their one client is in), and
// whatever is left is stale, which the next start replaces.
import { constants } from 'node:os'
import { acceptClient, listenUnixAt, probeUnixAt } from './socket.js'
import { closeQuietly, writeSome } from './fd.js'
import { statAt, unlinkAt } from './at.js'
import { pollAsync } from './poll.js'
import { POLLIN } from './constants.js'
import { makePipe } from './pipe.js'

const live = new Set<ServerSocket>()
/** acceptAsync's default: wait for the client as long as it takes. */
export const NO_TIMEOUT = -1

/** acceptAsync gave up: nobody connected before its deadline. */
export class AcceptTimeoutError extends Error {
  override name = 'AcceptTimeoutError'
}
const EXIT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/**
 * Refuses `name` in the directory (open at `dirFd`, named `dirPath` in messages) when a server
 * is listening on it, or when it is not a socket; removes a stale socket. Also called before a
 * long start-up (img-buffer drains the whole stream before binding): a stale file must not look,
 * to whoever waits for it (`until [ -S ... ]`), like a server that is ready.
 */
export function claimSocketName(dirFd: number, name: string, dirPath: string): void {
  const state = probeUnixAt(dirFd, name)
  if (state === 'live') throw new Error(`${dirPath}/${name} is in use: another server is listening on it (stop it, or use another directory)`)
  if (state === 'not-a-socket') throw new Error(`${dirPath}/${name} exists and is not a socket: refusing to replace it`)
  if (state === 'stale') unlinkAt(dirFd, name)
}

export class ServerSocket {
  readonly fd: number
  private readonly ino: bigint
  private listening = true
  private fileRemoved = false

  private constructor(private readonly dirFd: number, readonly name: string, fd: number, private readonly dirPath: string) {
    this.fd = fd
    this.ino = statAt(dirFd, name)?.ino ?? -1n
    live.add(this)
    installExitHook()
  }

  /** Claims `name` (see claimSocketName) and listens on it, mode 0600. */
  static listen(dirFd: number, name: string, dirPath: string, backlog = 1): ServerSocket {
    claimSocketName(dirFd, name, dirPath)
    return new ServerSocket(dirFd, name, listenUnixAt(dirFd, name, 0o600, backlog), dirPath)
  }

  /** One waiting client, or null (nothing waiting on a non-blocking listener, or a probe, dropped). */
  accept(): number | null {
    return acceptClient(this.fd)
  }

  /**
   * Waits for the client on the event loop (probes dropped), so that SIGINT, SIGTERM or SIGHUP
   * meanwhile remove every socket file of ours and exit 128+signal, as a killed shell job would.
   * With `timeoutMs`, throws AcceptTimeoutError once that long has passed without a client.
   */
  async acceptAsync(timeoutMs = NO_TIMEOUT): Promise<number> {
    const deadline = timeoutMs === NO_TIMEOUT ? Infinity : performance.now() + timeoutMs
    // The poll runs on a libuv thread, which Node joins at exit: wake it before exiting.
    const [wakeR, wakeW] = makePipe()
    const onSignal = (sig: NodeJS.Signals): void => {
      removeAll()
      writeSome(wakeW, Buffer.from([1]))
      process.exit(128 + constants.signals[sig])
    }
    for (const s of EXIT_SIGNALS) process.on(s, onSignal)
    try {
      for (;;) {
        const left = deadline === Infinity ? NO_TIMEOUT : Math.max(0, Math.ceil(deadline - performance.now()))
        const [ready] = await pollAsync([{ fd: this.fd, events: POLLIN }, { fd: wakeR, events: POLLIN }], left)
        if (!ready) {
          if (performance.now() >= deadline) throw new AcceptTimeoutError(`nobody connected to ${this.dirPath}/${this.name} within ${timeoutMs / 1000} s: giving up`)
          continue
        }
        const fd = this.accept()
        if (fd !== null) return fd
      }
    } finally {
      for (const s of EXIT_SIGNALS) process.off(s, onSignal)
      closeQuietly(wakeR)
      closeQuietly(wakeW)
    }
  }

  /** Removes the socket file, if it is still the one we bound. Idempotent. */
  removeFile(): void {
    if (this.fileRemoved) return
    this.fileRemoved = true
    live.delete(this)
    try {
      if (statAt(this.dirFd, this.name)?.ino === this.ino) unlinkAt(this.dirFd, this.name)
    } catch { /* the directory fd is gone already: nothing we can still name */ }
  }

  /** Stops listening and removes the file. Idempotent. */
  close(): void {
    if (this.listening) closeQuietly(this.fd)
    this.listening = false
    this.removeFile()
  }
}

function removeAll(): void {
  for (const s of [...live]) s.removeFile()
}

let hooked = false
function installExitHook(): void {
  if (hooked) return
  hooked = true
  process.on('exit', removeAll)
}
