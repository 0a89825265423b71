#!/usr/bin/env node
// page-feed -D DIR --port P: exit 0 once the destination has every page and the source's
// page-server session is closed in order; 1 with one line `page-feed: ...` otherwise (the
// source dump then resumes the original); 2 for a bad command line.
import { isIP } from 'node:net'
import { lookup } from 'node:dns/promises'
import { hideBin } from 'yargs/helpers'
import { writeAll } from '@criu-pipes/sys'
import { parseFeedOptions } from './feed-options.js'
import type { FeedOptions } from './feed-options.js'
import { loadImageSet } from './images.js'
import { Log, STDERR } from './log.js'
import { Feeder } from './page-feed.js'
import { PageServerSource } from './page-server-source.js'

const STDIN = 0
const STDOUT = 1

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
  try {
    log = opts.logFile !== undefined ? Log.toFile(opts.logFile, opts.verbosity) : Log.toStderr(opts.verbosity)
    const images = loadImageSet(opts.imagesDir)
    const address = isIP(opts.address) ? opts.address : (await lookup(opts.address)).address
    server = PageServerSource.connect(address, opts.port, opts.proto)
    const stats = new Feeder(images, server, STDIN, STDOUT, log, opts.maxRate).run()
    log.info(`page-feed done: ${stats.pushedPages} pages pushed, ${stats.answeredPages} sent for ${stats.requests} requests ` +
      `(${stats.lateRequests} for pages already sent); PS_IOV_CLOSE answered ${stats.closeStatus}`)
    log.close()
    process.exit(0)
  } catch (e) {
    // Without PS_IOV_CLOSE the dump resumes the frozen original: nothing is lost.
    server?.abort()
    fail(`${(e as Error).message}; the page-server session was dropped, so the source dump resumes the original`, 1, log)
  }
}

await main()
