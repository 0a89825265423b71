// page-feed -D DIR [--via-cmd CMD] [--base-index IDX] [--page-server-proto 4.1|4.2] [--max-rate MiB/s] [-o LOG] [-v...]
//           -- criu dump -t PID -D DIR --lazy-pages [criu options]
// page-feed starts the dump itself, its page server on a socketpair (page-server-command.ts): no
// port. The channel is stdin (requests in) and stdout (pages out): what ssh, socat or a pipe pair
// give; or, with --via-cmd CMD, the stdout and stdin of `sh -c CMD` (`ssh dst uffd-serve ...
// --pages-fds 0,1`), started once the dump has written its images.
import { resolve } from 'node:path'
import { PAGE_SERVER_PROTO_OPTION, checkPageServerCommand, takeVerbosity } from '@criu-pipes/lazy-pages'
import type { PageServerProtoChoice } from '@criu-pipes/lazy-pages'
import { createRequire } from 'node:module'
import { UsageError, cli } from '@criu-pipes/streamer'

export interface FeedOptions {
  imagesDir: string
  /** The lazy dump to run (after `--`), without our --ps-socket and --status-fd. */
  dump: string[]
  proto: PageServerProtoChoice
  /** Push limit in bytes per second (requests are never held back). */
  maxRate: number | undefined
  logFile: string | undefined
  verbosity: number
  /** The channel is this command's stdin/stdout instead of ours. */
  viaCmd: string | undefined
  /** The content index of the destination's base (img-split --index-out): pages it holds go as references. */
  baseIndex: string | undefined
}

// --version: this package's own version (yargs finds no package.json from an ES module).
const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version
const MIB = 1 << 20

export function parseFeedOptions(argv: readonly string[], cwd = process.cwd()): FeedOptions {
  const { rest, verbosity } = takeVerbosity(argv)
  const args = cli(rest, 'page-feed', '$0 -D DIR [options] -- criu dump -t PID -D DIR --lazy-pages [criu options]\n\n' +
      'The source side of post-copy migration: runs the lazy dump with its page server on a socketpair\n' +
      '(no port), then sends the frozen source\'s pages out on stdout as a page stream and takes\n' +
      'requests in on stdin (or on the stdout/stdin of --via-cmd, started once the images are written).')
    .option('images-dir', { alias: 'D', type: 'string', demandOption: true, describe: 'the lazy dump\'s images (its pagemaps say which pages to send)' })
    .options(PAGE_SERVER_PROTO_OPTION)
    .option('max-rate', { type: 'number', describe: 'cap the background push at this many MiB/s' })
    .option('base-index', { type: 'string', describe: 'the index img-split --index-out wrote for the checkpoint the destination holds (uffd-serve --base): its pages go as references' })
    .option('via-cmd', { type: 'string', describe: 'the channel is the stdin/stdout of `sh -c CMD` (e.g. \'ssh dst uffd-serve ... --pages-fds 0,1\') instead of ours' })
    .option('log-file', { alias: 'o', type: 'string', describe: 'log file; default stderr' })
    .option('verbosity', { alias: 'v', type: 'number', describe: 'log level 0-4' })
    .parserConfiguration({ 'populate--': true })
    .strict()
    .version(VERSION)
    .parseSync()
  const dump = ((args['--'] ?? []) as (string | number)[]).map(String)
  checkPageServerCommand(dump, 'page-feed')
  const rate = args['max-rate']
  if (rate !== undefined && !(rate > 0 && Number.isFinite(rate))) throw new UsageError('--max-rate must be a positive number of MiB/s')
  return {
    imagesDir: resolve(cwd, args['images-dir']),
    dump,
    proto: args['page-server-proto'] as PageServerProtoChoice,
    maxRate: rate !== undefined ? rate * MIB : undefined,
    logFile: args['log-file'] !== undefined ? resolve(cwd, args['log-file']) : undefined,
    verbosity: args.verbosity ?? verbosity,
    viaCmd: args['via-cmd'],
    baseIndex: args['base-index'] !== undefined ? resolve(cwd, args['base-index']) : undefined,
  }
}
