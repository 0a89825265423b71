#!/usr/bin/env node
// uffd-serve [lazy-pages] -D DIR [-W DIR] [--page-server --address A --port P] [--status-fd N] ...
// Exit 0 once every lazy page is delivered; 1 with one line `uffd-serve: ...` otherwise.
import { hideBin } from 'yargs/helpers'
import { closeQuietly, openPrivateDir, writeAll } from '@criu-pipes/sys'
import type { CheckedDir } from '@criu-pipes/sys'
import { Pidfile, signalReady } from '@criu-pipes/streamer'
import { startDaemon } from './start-daemon.js'
import { Log, STDERR } from '@criu-pipes/lazy-pages'
import { UsageError, parseOptions } from './options.js'
import type { Options } from './options.js'
import { serve } from './serve.js'

/** A bad command line, as every binary of ours (the man page says so). */
const EXIT_USAGE = 2

function fail(message: string, log?: Log, pidfile?: Pidfile, code = 1): never {
  pidfile?.abandon()
  // On stderr the plain line below is the clearer of the two.
  if (log !== undefined && !log.toStderr) log.error(message)
  log?.close()
  // A detached daemon's stderr is its log (which has the message) or /dev/null.
  if (log?.detached !== true) {
    try { writeAll(STDERR, Buffer.from(`uffd-serve: ${message}\n`)) } catch { /* nowhere to say it */ }
  }
  process.exit(code)
}

async function main(): Promise<void> {
  const argv = hideBin(process.argv)
  let opts: Options
  let pidfile: Pidfile | undefined
  let work: CheckedDir
  try {
    opts = parseOptions(argv)
    // The directories pass the trust rule before anything is made in them; the pid file and the
    // log are opened through the work dir's fd when they are in it. serve() uses fds of its own.
    closeQuietly(openPrivateDir(opts.imagesDir))
    work = { fd: openPrivateDir(opts.workDir, { create: true }), path: opts.workDir }
    // Before anything starts: a pid file we must refuse leaves no daemon running.
    if (opts.pidfile !== undefined) pidfile = Pidfile.create(opts.pidfile, work)
  } catch (e) {
    fail((e as Error).message, undefined, undefined, e instanceof UsageError ? EXIT_USAGE : 1)
  }
  if (opts.daemon) {
    try {
      await startDaemon(argv, opts, pidfile)
    } catch (e) {
      fail((e as Error).message, undefined, pidfile)
    }
    return
  }
  let log: Log | undefined
  try {
    log = opts.logFile !== undefined ? Log.toFile(opts.logFile, opts.verbosity, work) : Log.toStderr(opts.verbosity)
    for (const w of opts.warnings) log.warn(w)
    const theLog = log
    const ready = (): void => {
      pidfile?.write(process.pid)
      if (opts.detached) theLog.detachStderr()
      signalReady(opts.statusFd)
    }
    const stats = await serve(opts, log, ready)
    log.info(
      `lazy-pages done: ${stats.processes} processes, ${stats.copied}/${stats.total} pages copied, ` +
        `${stats.zeroed} zero pages; FTSR after ${(stats.restoreUs / 1e6).toFixed(3)} s, end after ${(stats.totalUs / 1e6).toFixed(3)} s`,
    )
    log.close()
    process.exit(0)
  } catch (e) {
    fail((e as Error).message, log, pidfile)
  }
}

await main()
