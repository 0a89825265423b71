// A CRIU page server nobody else can reach: `criu dump --lazy-pages ...` (or `criu page-server
// --lazy-pages ...`) started by us with one end of a socketpair as its --ps-socket. CRIU (4.x,
// cr_page_server) then serves on that connected socket instead of listening: no port, no socket
// file, nothing another user could connect to first (CRIU's listening page server hands its
// memory, and with a plain close the frozen source's life, to the first connection from anyone).
//
//   socketpair, PS_PING queued on it   so that from CRIU's first read on something of ours is
//                                      pending (see page-server-source.ts): if we die at any
//                                      point, the dump fails the transfer and resumes its source
//   spawn CMD --ps-socket 3 --status-fd 4   in a session of its own (a terminal's ^C is for us,
//                                      not for the dump in the middle of its cleanup)
//   wait for the status byte           the images are written and the server is up
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { read } from 'node:fs'
import { closeQuietly, makePipe, socketPair, writeAll } from '@criu-pipes/sys'
import { PS_PING, encodeIov, resolveProto } from './page-server-proto.js'
import type { PageServerProtoChoice } from './page-server-proto.js'
import { PageServerSource } from './page-server-source.js'
import { childEnded, within } from './channel-command.js'
import { UsageError } from '@criu-pipes/streamer'

/** Options we add to a CRIU page-server command (page-server-command.ts), or that would make it listen or detach. */
const ADDED_TO_CRIU = ['--ps-socket', '--status-fd', '--port', '--address', '--daemon', '-d']

/** Throws a UsageError unless `argv` (what follows `--`) is a lazy CRIU command we may add our options to. */
export function checkPageServerCommand(argv: readonly string[], what: string): void {
  if (argv.length === 0) throw new UsageError(`${what} needs a CRIU command after --`)
  if (!argv.includes('--lazy-pages')) throw new UsageError(`${what}: the CRIU command must have --lazy-pages (${argv.join(' ')})`)
  const bad = argv.find((a) => ADDED_TO_CRIU.some((o) => a === o || a.startsWith(`${o}=`)))
  if (bad !== undefined) {
    throw new UsageError(`${what}: the CRIU command may not have ${bad.replace(/=.*/, '')} (its page server gets a socketpair from us: nothing listens)`)
  }
}

/** The child's fds: the page-server socket and the status pipe, after stdio. */
const PS_SOCKET_FD = 3
const STATUS_FD = 4
const STDERR = 2
export interface PageServerCommand {
  source: PageServerSource
  child: ChildProcess
  /** How the command ended ("exited 0", "killed by SIGKILL"), or undefined still running after `ms`. */
  exit(ms: number): Promise<string | undefined>
}

/**
 * Starts `argv` (checked by checkPageServerCommand) and resolves once its page server is up.
 * `output`: the fd for its stdout and stderr, ours by default; a detached daemon passes its log,
 * since its own stderr is a pipe to the starter, whose reader goes away once it is ready.
 */
export async function startPageServer(argv: readonly string[], choice: PageServerProtoChoice, output = STDERR): Promise<PageServerCommand> {
  const proto = resolveProto(choice, argv[0]!)
  const [ours, theirs] = socketPair()
  const [statusR, statusW] = makePipe()
  let child: ChildProcess
  try {
    writeAll(ours, encodeIov(proto, PS_PING))
    child = spawn(argv[0]!, [...argv.slice(1), '--ps-socket', String(PS_SOCKET_FD), '--status-fd', String(STATUS_FD)],
      { stdio: ['ignore', output, output, theirs, statusW], detached: true })
  } catch (e) {
    for (const fd of [ours, statusR]) closeQuietly(fd)
    throw e
  } finally {
    closeQuietly(theirs)
    closeQuietly(statusW)
  }
  const ended = childEnded(child)
  const exit = (ms: number): Promise<string | undefined> => within(ended, ms)
  // CRIU writes the status byte once its server is up; EOF first means it ended without serving.
  const ready = await new Promise<boolean>((res) => {
    read(statusR, Buffer.alloc(1), 0, 1, null, (err, n) => res(err === null && n === 1))
  })
  closeQuietly(statusR)
  const name = `${argv[0]} ${argv[1] ?? ''} (pid ${child.pid ?? '?'}, page server on a socketpair, protocol ${proto})`
  if (!ready) {
    closeQuietly(ours)
    throw new Error(`${argv.join(' ')} ${await ended} before serving its pages (see its log)`)
  }
  return { source: PageServerSource.overFd(ours, proto, name, true), child, exit }
}
