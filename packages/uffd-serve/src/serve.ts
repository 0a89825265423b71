// One lazy restore from start to end: images, page source, socket, readiness, the loop, and an
// orderly close of the page source only if every page got where it belonged.
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { closeQuietly, openPrivateDir, pathAt } from '@criu-pipes/sys'
import type { CheckedDir } from '@criu-pipes/sys'
import { Daemon } from './daemon.js'
import type { DaemonStats } from './daemon.js'
import { DirectorySource } from './directory-source.js'
import { RestoreChannel } from './handshake.js'
import { PageServerSource, STDERR, loadImageSet, resolveProto, startPageServer } from '@criu-pipes/lazy-pages'
import { listenLazySocket } from './listen.js'
import type { Log, PageServerCommand, PageSource } from '@criu-pipes/lazy-pages'
import type { Options } from './options.js'
import type { RestoredTree } from './fail-stop.js'
import { StreamSource } from './stream-source.js'
import type { OwedPages } from './daemon.js'

/** How long the feeder may take to say hello (an ssh login included). */
const HELLO_TIMEOUT_MS = 60_000
/** After the close, how long the channel's command (ssh) may take to exit before we stop waiting. */
const COMMAND_EXIT_MS = 10_000

async function numericAddress(address: string): Promise<string> {
  return isIP(address) ? address : (await lookup(address)).address
}

async function openSource(opts: Options, images: ReturnType<typeof loadImageSet>, started?: PageServerCommand, base?: CheckedDir): Promise<PageSource> {
  if (opts.pagesFrom !== undefined) {
    const src = 'cmd' in opts.pagesFrom ? StreamSource.fromCommand(opts.pagesFrom.cmd, { base }) : StreamSource.overFds(...opts.pagesFrom.fds, { base })
    try {
      src.hello({ pages: [...images.tasks.values()].reduce((n, t) => n + t.lazyPages, 0), dumpId: images.dumpId }, HELLO_TIMEOUT_MS)
    } catch (e) {
      src.abort()
      throw e
    }
    return src
  }
  if (opts.pageServer === undefined) return DirectorySource.open(images)
  if ('command' in opts.pageServer) return started!.source
  const { address, port, proto } = opts.pageServer
  // Another host's CRIU serves: ours (criu on PATH) is the best guess of its version, or the option.
  return PageServerSource.connect(await numericAddress(address), port, resolveProto(proto, 'criu'))
}

/** `ready` runs once lazy-pages.socket listens: the pid file, stderr and --status-fd are main's. */
export async function serve(opts: Options, log: Log, ready: () => void): Promise<DaemonStats> {
  // Both directories are checked (see openPrivateDir) and used through their fds from here on.
  const imagesFd = openPrivateDir(opts.imagesDir)
  const workFd = opts.workDir === opts.imagesDir ? imagesFd : openPrivateDir(opts.workDir, { create: true })
  let baseFd: number | undefined
  try {
    baseFd = opts.base !== undefined ? openPrivateDir(opts.base) : undefined
    return await serveIn(imagesFd, workFd, opts, log, ready, baseFd !== undefined ? { fd: baseFd, path: opts.base! } : undefined)
  } finally {
    closeQuietly(imagesFd)
    if (workFd !== imagesFd) closeQuietly(workFd)
    if (baseFd !== undefined) closeQuietly(baseFd)
  }
}

async function serveIn(imagesFd: number, workFd: number, opts: Options, log: Log, ready: () => void, base?: CheckedDir): Promise<DaemonStats> {
  // A CRIU command (`--page-server -- criu ...`) first: a lazy dump writes the images we read.
  // Detached (-d), what it prints goes to our log: our stderr is the starter's, about to go.
  const ps = opts.pageServer
  const started = ps !== undefined && 'command' in ps
    ? await startPageServer(ps.command, ps.proto, opts.detached ? log.outputFd : STDERR) : undefined
  let images
  try {
    images = loadImageSet(pathAt(imagesFd), opts.imagesDir)
  } catch (e) {
    started?.source.abort()
    throw e
  }
  log.info(`${opts.imagesDir}: ${images.taskCount} tasks, ${images.tasks.size} with memory images`)
  const source = await openSource(opts, images, started, base)
  log.info(`pages come from ${source.name}`)
  let ok = false
  try {
    const listener = listenLazySocket(workFd, opts.workDir)
    log.debug(`Waiting for incoming connections on ${opts.workDir}/${listener.name}`)
    let conn: number
    try {
      const connected = listener.acceptAsync(opts.connectTimeoutMs) // signal handlers in place before anyone is told
      ready()
      conn = await connected
    } finally {
      // The socket file is of no use once the one connection is in.
      listener.close()
    }
    const channel = new RestoreChannel(conn, images.taskCount)
    const onFailure = (err: Error, owed: OwedPages[], tree: RestoredTree): Error => failStop(err, owed, tree, opts, log)
    const stats = new Daemon(channel, images, source, log, { maxPushRate: opts.maxPushRate, onFailure }).run()
    ok = true
    return stats
  } finally {
    if (source.stream !== undefined) log.info(source.stream.summary())
    if (!ok) source.abort()
    else {
      // Every page is in place whatever the server says now; CRIU ignores this answer too.
      try { source.close() } catch (e) { log.warn(`closing ${source.name}: ${(e as Error).message}`) }
    }
    if (source instanceof StreamSource) {
      const code = await source.commandExit(COMMAND_EXIT_MS)
      if (ok && code !== undefined && code !== 0) log.warn(`${source.name} exited ${code}`)
    }
    if (started !== undefined) {
      const ended = await started.exit(COMMAND_EXIT_MS)
      if (ok && ended !== 'exited 0') log.warn(`${source.name} ${ended ?? 'still runs'} after PS_IOV_CLOSE`)
    }
  }
}

/**
 * The daemon failed while processes still owe pages, their uffds still open. By default the
 * restored tree is killed now, before those uffds close and the kernel starts answering faults
 * with zero pages (fail-stop.ts); --on-source-loss=zero leaves it running, as CRIU would.
 */
function failStop(err: Error, owed: OwedPages[], tree: RestoredTree, opts: Options, log: Log): Error {
  const pages = owed.reduce((n, o) => n + o.pages, 0)
  const cause = err.message.replace(/\s*\n\s*/g, ' ')
  if (opts.onSourceLoss === 'zero') {
    return new Error(`${cause}; --on-source-loss=zero: the restored tree runs on and reads zero pages where ${pages} pages were owed`)
  }
  const { killed, unproven } = tree.kill()
  log.debug(`fail-stop: SIGKILLed ${killed}; not proven ours: ${unproven.join(', ') || 'none'}`)
  const spared = unproven.length === 0 ? '' : `; not signalled, as not proven to be this restore's: ${unproven.join(', ')}`
  return new Error(`${cause}; ${pages} pages were still owed, so the restored tree was killed ` +
    `(${killed} process${killed === 1 ? '' : 'es'}) rather than left to read zero pages (--on-source-loss=zero keeps it)${spared}`)
}
