#!/usr/bin/env node
// page-feed -D DIR --port P: exit 0 once the destination has every page and the source's
// page-server session is closed in order; 1 with one line `page-feed: ...` otherwise (the
// source dump then resumes the original); 2 for a bad command line.
import { isIP } from 'node:net'
import { lookup } from 'node:dns/promises'
import { hideBin } from 'yargs/helpers'
import { closeQuietly, openPrivateDir, pathAt, writeAll } from '@criu-pipes/sys'
import { commandExit, spawnChannel } from './channel-command.js'
import type { CommandChannel } from './channel-command.js'
import { parseFeedOptions } from './feed-options.js'
import type { FeedOptions } from './feed-options.js'
import { loadImageSet } from './images.js'
import { Log, STDERR } from './log.js'
import { Feeder } from './page-feed.js'
import { PageServerSource } from './page-server-source.js'

const STDIN = 0
const STDOUT = 1
/** After the close, how long the --via-cmd command (ssh) may take to exit. */
const COMMAND_EXIT_MS = 30_000

function fail(message: string, code: number, log?: Log): never {
  if (log !== undefined && !log.toStderr) log.error(message)
  log?.close()
  try { writeAll(STDERR, Buffer.from(`page-feed: ${message}\n`)) } catch { /* nowhere to say it */ }
  process.exit(code)
}

async function main(): Promise<void> {
  let opts: FeedOptions
  try {
    opts = parseFeedOptions(hideBin(process.argv))
  } catch (e) {
    fail((e as Error).message, 2)
  }
  let log: Log | undefined
  let server: PageServerSource | undefined
  let via: CommandChannel | undefined
  try {
    log = opts.logFile !== undefined ? Log.toFile(opts.logFile, opts.verbosity) : Log.toStderr(opts.verbosity)
    // The images are checked (see openPrivateDir) and read through the directory's fd, as
    // uffd-serve reads its own: page-feed runs as root next to the source's page server.
    const images = loadImageSet(pathAt(openPrivateDir(opts.imagesDir)), opts.imagesDir)
    const address = isIP(opts.address) ? opts.address : (await lookup(opts.address)).address
    server = PageServerSource.connect(address, opts.port, opts.proto)
    via = opts.viaCmd !== undefined ? spawnChannel(opts.viaCmd) : undefined
    const stats = new Feeder(images, server, via?.readFd ?? STDIN, via?.writeFd ?? STDOUT, log, opts.maxRate).run()
    if (via !== undefined) {
      closeQuietly(via.writeFd)
      const code = await commandExit(via.child, COMMAND_EXIT_MS)
      if (code !== 0) log.warn(`--via-cmd exited ${code ?? 'late'} after the migration finished`)
    }
    log.info(`page-feed done: ${stats.pushedPages} pages pushed, ${stats.answeredPages} sent for ${stats.requests} requests ` +
      `(${stats.lateRequests} for pages already sent); PS_IOV_CLOSE answered ${stats.closeStatus}`)
    log.close()
    process.exit(0)
  } catch (e) {
    // Without PS_IOV_CLOSE the dump resumes the frozen original: nothing is lost.
    server?.abort()
    if (via !== undefined && via.child.exitCode === null) via.child.kill('SIGTERM')
    fail(`${(e as Error).message}; the page-server session was dropped, so the source dump resumes the original`, 1, log)
  }
}

await main()
