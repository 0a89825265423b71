// page-feed -D DIR --port P [--address A] [--page-server-proto 4.1|4.2] [--max-rate MiB/s] [-o LOG] [-v...]
// The channel is stdin (requests in) and stdout (pages out): what ssh, socat or a pipe pair give;
// or, with --via-cmd CMD, the stdout and stdin of `sh -c CMD` (`ssh dst uffd-serve ... --pages-fds 0,1`).
import { resolve } from 'node:path'
import yargs from 'yargs'
import { PAGE_SERVER_PROTOS } from './page-server-proto.js'
import type { PageServerProto } from './page-server-proto.js'
import { UsageError, VERSION, takeVerbosity } from './options.js'

export interface FeedOptions {
  imagesDir: string
  address: string
  port: number
  proto: PageServerProto
  /** Push limit in bytes per second (requests are never held back). */
  maxRate: number | undefined
  logFile: string | undefined
  verbosity: number
  /** The channel is this command's stdin/stdout instead of ours. */
  viaCmd: string | undefined
}

const MIB = 1 << 20

export function parseFeedOptions(argv: readonly string[], cwd = process.cwd()): FeedOptions {
  const { rest, verbosity } = takeVerbosity(argv)
  const args = yargs(rest)
    .scriptName('page-feed')
    .usage('$0 -D DIR --port P [options]\n\n' +
      'The source side of post-copy migration: pages of the frozen `criu dump --lazy-pages --port P`\n' +
      'out on stdout as a page stream, requests in on stdin (run it at the far end of ssh from\n' +
      '`uffd-serve --pages-from-cmd`).')
    .option('images-dir', { alias: 'D', type: 'string', demandOption: true, describe: 'the lazy dump\'s images (its pagemaps say which pages to send)' })
    .option('address', { type: 'string', default: '127.0.0.1', describe: 'the page server\'s address (the dump\'s --address)' })
    .option('port', { type: 'number', demandOption: true, describe: 'the page server\'s port (the dump\'s --port)' })
    .option('page-server-proto', { type: 'string', choices: PAGE_SERVER_PROTOS, default: '4.1', describe: 'page-server wire format of the source\'s CRIU' })
    .option('max-rate', { type: 'number', describe: 'cap the background push at this many MiB/s' })
    .option('via-cmd', { type: 'string', describe: 'the channel is the stdin/stdout of `sh -c CMD` (e.g. \'ssh dst uffd-serve ... --pages-fds 0,1\') instead of ours' })
    .option('log-file', { alias: 'o', type: 'string', describe: 'log file; default stderr' })
    .option('verbosity', { alias: 'v', type: 'number', describe: 'log level 0-4' })
    .strictOptions()
    .strict()
    .help()
    .version(VERSION)
    .fail((msg, err) => { throw err ?? new UsageError(msg) })
    .wrap(100)
    .parseSync()
  const port = args.port
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw new UsageError('--port must be an integer from 1 to 65535')
  const rate = args['max-rate']
  if (rate !== undefined && !(rate > 0 && Number.isFinite(rate))) throw new UsageError('--max-rate must be a positive number of MiB/s')
  return {
    imagesDir: resolve(cwd, args['images-dir']),
    address: args.address,
    port,
    proto: args['page-server-proto'] as PageServerProto,
    maxRate: rate !== undefined ? rate * MIB : undefined,
    logFile: args['log-file'] !== undefined ? resolve(cwd, args['log-file']) : undefined,
    verbosity: args.verbosity ?? verbosity,
    viaCmd: args['via-cmd'],
  }
}
