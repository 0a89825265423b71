#!/usr/bin/env node
// page-feed -D DIR [...] -- criu dump ... --lazy-pages: exit 0 once the destination has every
// page, the source's page-server session is closed in order and the dump has exited 0 (the
// original is gone); 1 with one line `page-feed: ...` otherwise (the dump then resumes the
// original); 2 for a bad command line.
import { hideBin } from 'yargs/helpers'
import { readIndex } from '@criu-pipes/framing'
import { closeQuietly, openPrivateDir, pathAt, writeAll } from '@criu-pipes/sys'
import { Log, STDERR, commandExit, loadImageSet, spawnChannel, startPageServer } from '@criu-pipes/lazy-pages'
import type { CommandChannel, PageServerCommand } from '@criu-pipes/lazy-pages'
import { parseFeedOptions } from './options.js'
import type { FeedOptions } from './options.js'
import { Feeder } from './feeder.js'

const STDIN = 0
const STDOUT = 1
/** After the close, how long the --via-cmd command (ssh) may take to exit. */
const COMMAND_EXIT_MS = 30_000
/**
 * How long the dump may take to exit once its session is over: it kills (or, after a failure,
 * resumes) the frozen tree and cleans up.
 */
const DUMP_EXIT_MS = 60_000

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
  let dump: PageServerCommand | undefined
  let via: CommandChannel | undefined
  try {
    log = opts.logFile !== undefined ? Log.toFile(opts.logFile, opts.verbosity) : Log.toStderr(opts.verbosity)
    // The images dir is checked (see openPrivateDir) before the dump writes into it, and read
    // through its fd, as uffd-serve reads its own: page-feed runs as root.
    const dir = openPrivateDir(opts.imagesDir)
    // Before the dump: a bad index fails while the process still runs, untouched.
    const base = opts.baseIndex !== undefined ? readIndex(opts.baseIndex) : undefined
    dump = await startPageServer(opts.dump, opts.proto)
    log.info(`page-feed: ${dump.source.name} is up`)
    const images = loadImageSet(pathAt(dir), opts.imagesDir)
    via = opts.viaCmd !== undefined ? spawnChannel(opts.viaCmd) : undefined
    const stats = new Feeder(images, dump.source, via?.readFd ?? STDIN, via?.writeFd ?? STDOUT, log, { maxRate: opts.maxRate, base }).run()
    const ended = await dump.exit(DUMP_EXIT_MS)
    if (ended !== 'exited 0') {
      // Past PS_IOV_CLOSE: the copy has everything; whether the original is gone, only the log says.
      fail(`the destination has every page, but the dump ${ended ?? 'still runs'} after PS_IOV_CLOSE: see its log (the original may run on)`, 1, log)
    }
    if (via !== undefined) {
      closeQuietly(via.writeFd)
      const code = await commandExit(via.child, COMMAND_EXIT_MS)
      if (code !== 0) log.warn(`--via-cmd exited ${code ?? 'late'} after the migration finished`)
    }
    log.info(`page-feed done: ${stats.pushedPages} pages pushed, ${stats.answeredPages} sent for ${stats.requests} requests ` +
      `(${stats.lateRequests} for pages already sent); ` +
      (base !== undefined ? `${stats.refPages} of them as ${stats.refs} references to the base, ${stats.pushedPages + stats.answeredPages - stats.refPages} as bytes; ` : '') +
      `PS_IOV_CLOSE answered ${stats.closeStatus}`)
    log.close()
    process.exit(0)
  } catch (e) {
    // Without PS_IOV_CLOSE the dump resumes the frozen original: nothing is lost.
    dump?.source.abort()
    if (via !== undefined && via.child.exitCode === null) via.child.kill('SIGTERM')
    if (dump === undefined) fail(`${(e as Error).message}; no dump was started, the process was not touched`, 1, log)
    const ended = await dump.exit(DUMP_EXIT_MS)
    fail(`${(e as Error).message}; the page-server session was dropped, so the source dump resumes the original (the dump ${ended ?? 'still runs'})`, 1, log)
  }
}

await main()
