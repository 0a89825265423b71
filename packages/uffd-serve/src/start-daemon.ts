// uffd-serve -d (streamer's daemonize): the copy's stderr comes to us until it listens, then it
// moves it to its log; readiness reaches the copy as --status-fd, CRIU's own option, and the
// starter passes it on to its own --status-fd.
import { copyArgv, daemonize, signalReady, type DaemonStart, type Pidfile } from '@criu-pipes/streamer'
import type { Options } from './options.js'

const start = (argv: readonly string[]): DaemonStart => ({
  argv,
  // Readiness and the pid file are the starter's.
  starterOnly: ['--status-fd', '--pidfile'],
  keepFds: [],
  stderr: 'pipe',
  statusArgs: (fd) => ['--status-fd', String(fd)],
})
/** The fd the copy gets for its status byte: the first above its stdio (no other fd is kept). */
const CHILD_STATUS_FD = 3

/** The copy's argv (for the tests). */
export const daemonArgs = (argv: readonly string[]): string[] => copyArgv(start(argv), CHILD_STATUS_FD)

export async function startDaemon(argv: readonly string[], opts: Options, pidfile: Pidfile | undefined): Promise<number> {
  const pid = await daemonize('uffd-serve', start(argv), pidfile)
  signalReady(opts.statusFd)
  return pid
}
