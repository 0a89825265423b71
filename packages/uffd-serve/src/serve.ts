// One lazy restore from start to end: images, page source, socket, readiness, the loop, and an
// orderly close of the page source only if every page got where it belonged.
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { acceptOne, closeQuietly } from '@criu-pipes/sys'
import { Daemon } from './daemon.js'
import type { DaemonStats } from './daemon.js'
import { DirectorySource } from './directory-source.js'
import { RestoreChannel } from './handshake.js'
import { loadImageSet } from './images.js'
import { listenLazySocket, removeSocketFile } from './listen.js'
import type { Log } from './log.js'
import type { Options } from './options.js'
import type { PageSource } from './page-source.js'
import { PageServerSource } from './page-server-source.js'

async function numericAddress(address: string): Promise<string> {
  return isIP(address) ? address : (await lookup(address)).address
}

async function openSource(opts: Options, images: ReturnType<typeof loadImageSet>): Promise<PageSource> {
  if (opts.pageServer === undefined) return DirectorySource.open(images)
  const { address, port, proto } = opts.pageServer
  return PageServerSource.connect(await numericAddress(address), port, proto)
}

/** `ready` runs once lazy-pages.socket listens: the pid file, stderr and --status-fd are main's. */
export async function serve(opts: Options, log: Log, ready: () => void): Promise<DaemonStats> {
  const images = loadImageSet(opts.imagesDir)
  log.info(`${opts.imagesDir}: ${images.taskCount} tasks, ${images.tasks.size} with memory images`)
  const source = await openSource(opts, images)
  log.info(`pages come from ${source.name}`)
  let ok = false
  try {
    const listener = listenLazySocket(opts.workDir)
    log.debug(`Waiting for incoming connections on ${listener.path}`)
    ready()
    let conn: number
    try {
      conn = acceptOne(listener.fd)
    } finally {
      closeQuietly(listener.fd)
      removeSocketFile(listener)
    }
    const channel = new RestoreChannel(conn, images.taskCount)
    const stats = new Daemon(channel, images, source, log, { maxPushRate: opts.maxPushRate }).run()
    ok = true
    return stats
  } finally {
    if (!ok) source.abort()
    else {
      // Every page is in place whatever the server says now; CRIU ignores this answer too.
      try { source.close() } catch (e) { log.warn(`closing ${source.name}: ${(e as Error).message}`) }
    }
  }
}
