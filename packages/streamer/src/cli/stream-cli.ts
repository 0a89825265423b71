// The options every streaming binary shares (-s, -e, -p), parsed one way: criu-image-streamer's
// names, our one-line errors. Each binary adds its own options to the returned yargs.
import yargs from 'yargs'
import { parseFdList, parseExtFiles, parseFd, type ExtFile } from './fd-lists.js'
import { dupOf } from './default-fds.js'
import { UsageError } from './usage-error.js'
import { StatusLine } from '../status-line.js'

/**
 * Every binary's command line starts here: its name and usage, --help, unknown options refused,
 * and yargs' complaints thrown as a UsageError (exit 2, one line) instead of printed.
 */
export function cli(argv: readonly string[], name: string, usage: string) {
  return yargs([...argv])
    .scriptName(name)
    .usage(usage)
    .strictOptions()
    .help()
    // Usage texts are written as paragraphs: yargs wraps them at 100 columns.
    .wrap(100)
    .fail((msg, err) => { throw err ?? new UsageError(msg) })
}

export function streamCli(argv: string[], name: string, usage: string, shardsDefault: string) {
  return cli(argv, name, usage)
    .option('shard-fds', { alias: 's', type: 'string', describe: `comma-separated shard fds [default: ${shardsDefault}]` })
    .option('ext-file-fds', { alias: 'e', type: 'string', describe: 'external files, NAME:FD,... (e.g. fs.tar:20)' })
    .option('progress-fd', { alias: 'p', type: 'string', describe: 'fd for progress lines [default: stderr]' })
    .strict()
}

export interface StreamFds {
  shardFds: number[]; extFiles: ExtFile[]; progressFd: number
  /** Show the live status line (stderr a terminal, no -p). */
  status?: boolean
}

/** The fds the command line names (or the default shard fd): what a daemon copy must keep. */
export function namedFds(
  a: { 'shard-fds'?: string | undefined; 'ext-file-fds'?: string | undefined; 'progress-fd'?: string | undefined },
  defaultShardFd: 0 | 1,
): number[] {
  return [
    ...(a['shard-fds'] !== undefined ? parseFdList(a['shard-fds'], '--shard-fds') : [defaultShardFd]),
    ...(a['ext-file-fds'] !== undefined ? parseExtFiles(a['ext-file-fds'], '--ext-file-fds').map(e => e.fd) : []),
    ...(a['progress-fd'] !== undefined ? [parseFd(a['progress-fd'], '--progress-fd')] : []),
  ]
}

/** The fds, with criu-image-streamer's defaults: dups of stdin or stdout, and of stderr. */
export function streamFds(
  a: { 'shard-fds'?: string | undefined; 'ext-file-fds'?: string | undefined; 'progress-fd'?: string | undefined },
  defaultShardFd: 0 | 1,
): StreamFds {
  return {
    shardFds: a['shard-fds'] !== undefined ? parseFdList(a['shard-fds'], '--shard-fds') : [dupOf(defaultShardFd)],
    extFiles: a['ext-file-fds'] !== undefined ? parseExtFiles(a['ext-file-fds'], '--ext-file-fds') : [],
    progressFd: a['progress-fd'] !== undefined ? parseFd(a['progress-fd'], '--progress-fd') : dupOf(2),
    status: StatusLine.wanted(a['progress-fd'] !== undefined),
  }
}
