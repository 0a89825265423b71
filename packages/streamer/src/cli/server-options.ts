// What a server started in a script needs (README, "A checkpoint in four lines"): -d to return
// only once CRIU can connect, --pidfile for the daemon's pid, and a deadline for a client that
// never comes, so that a forgotten server does not hold its shards (or the script's `wait`)
// forever. img-split and img-buffer take them from here; uffd-serve has its own -d and pid file
// (CRIU's lazy-pages options) and the same deadline.
import { join } from 'node:path'
import { O_CREAT, O_RDWR, O_TRUNC, NO_TIMEOUT, SysError, UntrustedFileError, closeQuietly, openPrivateDir, openPrivateFile } from '@criu-pipes/sys'
import { UsageError } from './usage-error.js'
import { DETACHED_OPTION, daemonize, signalReady } from './daemonize.js'
import { Pidfile } from './pidfile.js'

/**
 * How long a server waits for CRIU to connect, by default: long enough for a person to type the
 * next command by hand or for a slow ssh to set up the other side; short enough that a server
 * whose `criu` never ran (a typo, a failed line before it) goes away within minutes, with one line.
 */
export const DEFAULT_CONNECT_TIMEOUT_S = 300
/** The hidden option that tells the detached copy where its status byte goes. */
const STATUS_OPTION = 'daemon-status-fd'

export const CONNECT_TIMEOUT_OPTION = {
  'connect-timeout': {
    type: 'number',
    describe: `give up with one line (exit 1) if CRIU has not connected within this many seconds; 0 waits forever [default: ${DEFAULT_CONNECT_TIMEOUT_S}]`,
  },
} as const

export const SERVER_OPTIONS = {
  daemon: { alias: 'd', type: 'boolean', describe: 'return only once CRIU can connect (socket-init); the server goes on detached, its stderr and progress lines in DIR/NAME.log' },
  pidfile: { type: 'string', describe: 'with -d: write the daemon\'s pid to this new file (refused if it exists)' },
  ...CONNECT_TIMEOUT_OPTION,
  [DETACHED_OPTION]: { type: 'boolean', hidden: true },
  [STATUS_OPTION]: { type: 'number', hidden: true },
} as const

/** --connect-timeout in ms for acceptAsync (NO_TIMEOUT for 0). */
export function connectTimeoutMs(seconds: number | undefined): number {
  const s = seconds ?? DEFAULT_CONNECT_TIMEOUT_S
  if (!Number.isFinite(s) || s < 0) throw new UsageError(`--connect-timeout: "${seconds}" is not a number of seconds (0 waits forever)`)
  return s === 0 ? NO_TIMEOUT : Math.round(s * 1000)
}

export interface ServerMode {
  /** -d: this process only starts the daemon. */
  start: { pidfile: string | undefined } | null
  /** In the daemon (or without -d): called once the socket listens. */
  onListening: () => void
  connectTimeoutMs: number
}

export function serverMode(a: { daemon?: boolean | undefined; pidfile?: string | undefined; 'connect-timeout'?: number | undefined; [DETACHED_OPTION]?: boolean | undefined; [STATUS_OPTION]?: number | undefined }): ServerMode {
  if (a.pidfile !== undefined && !a.daemon) throw new UsageError('--pidfile is for -d (without it, the pid is the shell\'s $!)')
  const statusFd = a[STATUS_OPTION]
  return {
    start: a.daemon && !a[DETACHED_OPTION] ? { pidfile: a.pidfile } : null,
    onListening: () => signalReady(statusFd),
    connectTimeoutMs: connectTimeoutMs(a['connect-timeout']),
  }
}

/** The daemon's log: where its stderr (and, without -p, its progress lines) go. */
export const daemonLogName = (bin: string): string => `${bin}.log`

/**
 * -d: starts the detached copy with the fds it needs (`keepFds`, at the same numbers) and returns
 * once it listens, or throws its error. Its stderr is DIR/BIN.log from the start (0600, created
 * or truncated, never through a symlink), so a failure before it listens is read back from there.
 */
export async function startServerDaemon(bin: string, argv: readonly string[], imagesDir: string, keepFds: readonly number[], pidfilePath: string | undefined): Promise<number> {
  const dir = { fd: openPrivateDir(imagesDir, { create: true }), path: imagesDir }
  let log = -1
  let pidfile: Pidfile | undefined
  try {
    const logPath = join(imagesDir, daemonLogName(bin))
    try {
      log = openPrivateFile(logPath, O_RDWR | O_CREAT | O_TRUNC, 0o600, dir)
    } catch (e) {
      if (e instanceof UntrustedFileError) throw new Error(`log file ${e.message}`)
      throw new Error(`cannot open log file ${logPath}: ${e instanceof SysError ? e.code : (e as Error).message}`)
    }
    if (pidfilePath !== undefined) pidfile = Pidfile.create(pidfilePath)
    await daemonize(bin, { argv, starterOnly: ['--pidfile'], keepFds, stderr: log, statusArgs: (fd) => [`--${STATUS_OPTION}`, String(fd)] }, pidfile)
    return 0
  } catch (e) {
    pidfile?.abandon()
    throw e
  } finally {
    closeQuietly(log)
    closeQuietly(dir.fd)
  }
}
