// The command line of `criu lazy-pages`, as CRIU's tools and zdtm pass it, e.g.
//   lazy-pages --no-default-config --log-file lazy-pages.log --images-dir D --verbosity=4 --status-fd 4
//   ... --page-server --port 12345 --address 127.0.0.1
// Paths are made absolute here, against the directory we were started in; relative log and pid
// files go in the work dir, as CRIU (which chdir()s there) would put them.
import { createRequire } from 'node:module'
import { isAbsolute, resolve } from 'node:path'
import { CONNECT_TIMEOUT_OPTION, DETACHED_OPTION, UsageError, cli, connectTimeoutMs } from '@criu-pipes/streamer'
import { PAGE_SERVER_PROTO_OPTION, checkPageServerCommand, takeVerbosity } from '@criu-pipes/lazy-pages'
import { SOURCE_LOSS_POLICIES } from './fail-stop.js'
import type { SourceLossPolicy } from './fail-stop.js'
import type { PageServerProtoChoice } from '@criu-pipes/lazy-pages'

// --version: this package's own version (yargs finds no package.json from an ES module).
export const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version

export interface Options {
  imagesDir: string
  workDir: string
  statusFd: number | undefined
  logFile: string | undefined
  verbosity: number
  /** A CRIU page server to connect to over TCP, or to start with a socketpair (`-- CRIU...`). */
  pageServer: ({ address: string; port: number } | { command: string[] }) & { proto: PageServerProtoChoice } | undefined
  /** Pages from a page stream: over two fds, or over a command's stdin/stdout. */
  pagesFrom: { fds: [number, number] } | { cmd: string } | undefined
  /** The base a page stream's references point into (--base DIR, with a page stream only). */
  base: string | undefined
  /** What to do with the restored tree if the page source is lost before every page is in. */
  onSourceLoss: SourceLossPolicy
  pidfile: string | undefined
  daemon: boolean
  /** The copy that -d starts (internal): after readiness, stderr goes to the log or /dev/null. */
  detached: boolean
  /** Background push limit in bytes per second (--max-push-rate is in MiB/s). */
  maxPushRate: number | undefined
  /** How long to wait for `criu restore --lazy-pages` to connect (ms, or NO_TIMEOUT). */
  connectTimeoutMs: number
  /** Accepted but suspicious; main logs them. */
  warnings: string[]
}

// One usage error for every binary (exit 2): streamer's.
export { UsageError }

/** The sub-command a `--criu-bin` wrapper forwards to us; the only positional we accept. */
export const LAZY_PAGES_COMMAND = 'lazy-pages'
/**
 * The log of a daemon (-d) started without -o, in the work dir: its stderr is /dev/null once it
 * detaches, so without a file the reason it died would be told to nobody.
 */
export const DAEMON_LOG = 'uffd-serve.log'
/** With --page-server and no --address, CRIU's getaddrinfo(NULL) means the loopback. */
const DEFAULT_ADDRESS = '127.0.0.1'

const TLS_OPTIONS = ['tls', 'tls-cacert', 'tls-cacrl', 'tls-cert', 'tls-key', 'tls-no-cn-verify'] as const

const MIB = 1 << 20

function pushRate(mibPerSecond: number | undefined): number | undefined {
  if (mibPerSecond === undefined) return undefined
  if (!(mibPerSecond > 0) || !Number.isFinite(mibPerSecond)) throw new UsageError('--max-push-rate must be a positive number of MiB/s')
  return mibPerSecond * MIB
}

function streamOption(cmd: string | undefined, fds: string | undefined): Options['pagesFrom'] {
  if (cmd !== undefined && fds !== undefined) throw new UsageError('--pages-from-cmd and --pages-fds are two channels: pick one')
  if (cmd !== undefined) {
    if (cmd.trim() === '') throw new UsageError('--pages-from-cmd needs a command')
    return { cmd }
  }
  if (fds === undefined) return undefined
  const m = /^(\d+),(\d+)$/.exec(fds)
  if (!m) throw new UsageError(`--pages-fds takes R,W (two fd numbers), not ${fds}`)
  return { fds: [Number(m[1]), Number(m[2])] }
}

function inDir(dir: string, p: string): string {
  return isAbsolute(p) ? p : resolve(dir, p)
}

/** Parses argv (without node and script). Throws UsageError; --help and --version print and exit. */
export function parseOptions(argv: readonly string[], cwd = process.cwd()): Options {
  const { rest, verbosity } = takeVerbosity(argv)
  const args = cli(rest, 'uffd-serve', '$0 [lazy-pages] -D DIR [-W DIR] [--page-server --address A --port P | --pages-from-cmd CMD | --pages-fds R,W] [options]\n' +
      '$0 [lazy-pages] -D DIR [-W DIR] --page-server [options] -- criu page-server|dump --lazy-pages ...\n\n' +
      'A userfaultfd lazy-pages daemon for `criu restore --lazy-pages`, a drop-in for `criu lazy-pages`.\n' +
      'After --, a CRIU command it starts with its page server on a socketpair (no port).')
    .option('images-dir', { alias: 'D', type: 'string', default: '.', describe: 'images: the full dump (or, with --page-server, its made-lazy copy)' })
    .option('work-dir', { alias: 'W', type: 'string', describe: 'where lazy-pages.socket and relative log files go (default: the images dir)' })
    .option('status-fd', { type: 'number', describe: 'write one \\0 byte to this fd once listening, then close it' })
    .option('log-file', { alias: 'o', type: 'string', describe: `log file (relative to the work dir); default stderr, with -d ${DAEMON_LOG}` })
    .option('verbosity', { alias: 'v', type: 'number', describe: 'log level 0-4 (-v, -vv, -v4, --verbosity=4)' })
    .option('page-server', { type: 'boolean', default: false, describe: 'fetch pages from a CRIU page server' })
    .option('address', { type: 'string', describe: `page server address (default ${DEFAULT_ADDRESS})` })
    .option('port', { type: 'number', describe: 'page server TCP port' })
    .options(PAGE_SERVER_PROTO_OPTION)
    .option('pages-from-cmd', { type: 'string', describe: 'pages from a page stream on the stdout of `sh -c CMD`, requests to its stdin (see page-feed)' })
    .option('pages-fds', { type: 'string', describe: 'pages from a page stream read from fd R, requests written to fd W (R,W; the same fd for a socket)' })
    .option('base', { type: 'string', describe: 'with page-feed --base-index: the checkpoint its references point into; pages are read from here and checked against their hashes' })
    .option('on-source-loss', { type: 'string', choices: SOURCE_LOSS_POLICIES, default: 'kill', describe: 'page source lost before every page arrived: kill the restored tree (default), or zero: CRIU\'s behaviour, later faults read zero pages' })
    .option('max-push-rate', { type: 'number', describe: 'cap background push at this many MiB/s (faults are never held back)' })
    .option('pidfile', { type: 'string', describe: 'write our pid (with -d, the daemon\'s) here' })
    .option('daemon', { alias: 'd', type: 'boolean', default: false, describe: 'detach once listening' })
    .options(CONNECT_TIMEOUT_OPTION)
    .option(DETACHED_OPTION, { type: 'boolean', default: false, hidden: true })
    .option('default-config', { type: 'boolean', hidden: true, describe: 'CRIU config files are not read anyway' })
    .option('tls', { type: 'boolean', hidden: true })
    .option('tls-cacert', { type: 'string', hidden: true })
    .option('tls-cacrl', { type: 'string', hidden: true })
    .option('tls-cert', { type: 'string', hidden: true })
    .option('tls-key', { type: 'string', hidden: true })
    .option('tls-no-cn-verify', { type: 'boolean', hidden: true })
    .parserConfiguration({ 'populate--': true })
    .version(VERSION)
    .parseSync()

  const extra = args._.filter((a) => String(a) !== LAZY_PAGES_COMMAND)
  if (extra.length > 0 || args._.length > 1) {
    throw new UsageError(`unexpected argument ${String(extra[0] ?? args._[1])} (only "${LAZY_PAGES_COMMAND}" may precede the options)`)
  }
  const tls = TLS_OPTIONS.filter((o) => args[o] !== undefined && args[o] !== false)
  if (tls.length > 0) throw new UsageError(`TLS is not supported (--${tls.join(', --')}): use a trusted network or an ssh tunnel`)

  const imagesDir = resolve(cwd, args['images-dir'])
  const workDir = args['work-dir'] !== undefined ? resolve(cwd, args['work-dir']) : imagesDir
  const num = (name: string, v: number | undefined, min: number, max: number): number | undefined => {
    if (v === undefined) return undefined
    if (!Number.isInteger(v) || v < min || v > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`)
    return v
  }
  const statusFd = num('status-fd', args['status-fd'], 0, 0x7fffffff)
  const port = num('port', args.port, 1, 0xffff)
  const pageServer = args['page-server']
  const warnings: string[] = []
  if (!pageServer && (args.address !== undefined || port !== undefined)) {
    // CRIU ignores them too; they are a common mistake (criu#2808), so say so.
    warnings.push('--address/--port are ignored without --page-server: lazy-pages.socket is always in the work dir')
  }
  const command = ((args['--'] ?? []) as (string | number)[]).map(String)
  if (command.length > 0) {
    if (!pageServer) throw new UsageError('a CRIU command after -- is a page server: it needs --page-server')
    if (args.address !== undefined || port !== undefined) throw new UsageError('--page-server with a CRIU command after -- takes no --address or --port: nothing listens')
    checkPageServerCommand(command, 'uffd-serve --page-server')
  } else if (pageServer && port === undefined) {
    throw new UsageError('--page-server needs --port, or a CRIU command after --')
  }
  const pagesFrom = streamOption(args['pages-from-cmd'], args['pages-fds'])
  if (pagesFrom !== undefined && pageServer) throw new UsageError('--page-server and a page stream (--pages-from-cmd, --pages-fds) are two sources: pick one')
  if (args.base !== undefined && pagesFrom === undefined) throw new UsageError('--base is for a page stream\'s references: it needs --pages-from-cmd or --pages-fds')
  return {
    imagesDir,
    workDir,
    statusFd,
    logFile: args['log-file'] !== undefined ? inDir(workDir, args['log-file'])
      : args.daemon || args[DETACHED_OPTION] ? inDir(workDir, DAEMON_LOG) : undefined,
    verbosity: args.verbosity !== undefined ? args.verbosity : verbosity,
    pageServer: !pageServer ? undefined
      : command.length > 0 ? { command, proto: args['page-server-proto'] as PageServerProtoChoice }
        : { address: args.address ?? DEFAULT_ADDRESS, port: port!, proto: args['page-server-proto'] as PageServerProtoChoice },
    pagesFrom,
    base: args.base !== undefined ? resolve(cwd, args.base) : undefined,
    onSourceLoss: args['on-source-loss'] as SourceLossPolicy,
    pidfile: args.pidfile !== undefined ? inDir(workDir, args.pidfile) : undefined,
    daemon: args.daemon,
    detached: args[DETACHED_OPTION],
    maxPushRate: pushRate(args['max-push-rate']),
    connectTimeoutMs: connectTimeoutMs(args['connect-timeout']),
    warnings,
  }
}
