// img-migrate's command line: the source half (-t PID --to CMD) or the destination half
// (--receive -W DIR). One parser, two shapes.
import { createRequire } from 'node:module'
import { resolve } from 'node:path'
import yargs from 'yargs'
import { UsageError, WRITE_EXT_OPTIONS, parseFd, readExtOptions, writeExtOptions } from '@criu-pipes/streamer'
import { isExtended, type ExtReadOptions, type ExtWriteOptions } from '@criu-pipes/framing'

// --version: this package's own version (yargs finds no package.json from an ES module).
const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version

export const MODES = ['auto', 'full', 'precopy', 'postcopy', 'hybrid'] as const
export type Mode = (typeof MODES)[number]
/** Modes whose final round is lazy: its pages go as a page stream, which --encrypt does not cover. */
const LAZY_MODES: readonly Mode[] = ['postcopy', 'hybrid']
/** A mode's number in MIGRATE_HELLO (0 is proto3's "absent"). */
export const modeCode = (m: Mode): number => MODES.indexOf(m) + 1
export const modeOf = (code: number): Mode | undefined => MODES[code - 1]

/** auto: the user need not know how fast the workload's memory changes (auto.ts). */
export const DEFAULT_MODE: Mode = 'auto'
/** Pre-copy rounds with the process running, at most, before the final frozen round. */
export const DEFAULT_MAX_ROUNDS = 4

export interface SourceOptions {
  side: 'source'
  pid: number
  to: string
  mode: Mode
  /**
   * The capture's --compress/--checksum/--encrypt, parsed (and the key file read) once, as a
   * round with references would use them (roundExt says whether a round has them).
   */
  ext: ExtWriteOptions
  maxRounds: number
  afterRound: string | null
  progressFd: number | null
  statusFd: number | null
}

export interface ReceiveOptions {
  side: 'destination'
  workDir: string
  read: ExtReadOptions
}

export type Options = SourceOptions | ReceiveOptions

/** The capture's options for one round; null: a plain stream, criu-image-streamer's. */
export function roundExt(o: SourceOptions, refs: boolean): ExtWriteOptions | null {
  const ext = { ...o.ext, refs }
  return isExtended(ext) ? ext : null
}

export function parseOptions(argv: readonly string[], cwd = process.cwd()): Options {
  const a = yargs([...argv])
    .scriptName('img-migrate')
    .usage('$0 -t PID --to CMD [--mode auto|full|precopy|postcopy|hybrid] [--compress C] [--encrypt KEYFILE] [--max-rounds N] [-p FD]\n' +
      '$0 --receive -W DIR [--decrypt KEYFILE]\n\n' +
      'Migrates the process tree of PID over one channel: the stdin and stdout of `sh -c CMD`, which runs\n' +
      'the destination half (`ssh dst img-migrate --receive -W /var/lib/ck`). Nothing listens on a port.')
    .option('tree', { alias: 't', type: 'number', describe: 'the root of the process tree to migrate' })
    .option('to', { type: 'string', describe: 'the command that runs the destination half; its stdin/stdout are the channel' })
    .option('mode', { type: 'string', choices: MODES, describe: 'full: one checkpoint; precopy: rounds while it runs, then a final one; postcopy: restored at once, ' +
      'the memory following; hybrid: one round while it runs, then a lazy final one; auto: postcopy where it can run, ' +
      `else precopy or full by the measured dirty rate [default: ${DEFAULT_MODE}]` })
    .options(WRITE_EXT_OPTIONS)
    .option('max-rounds', { type: 'number', describe: `pre-copy rounds with the process running, at most [default: ${DEFAULT_MAX_ROUNDS}]` })
    .option('after-round', { type: 'string', describe: 'run `sh -c CMD` after each pre-copy round ($MIGRATE_ROUND, $MIGRATE_PID set); a failure ends the migration, the process still running' })
    .option('progress-fd', { alias: 'p', type: 'string', describe: 'the JSON summary at the end goes to this fd' })
    .option('status-fd', { type: 'string', describe: 'one JSON line per finished round goes to this fd' })
    .option('receive', { type: 'boolean', describe: 'be the destination half: the channel is stdin/stdout' })
    .option('work-dir', { alias: 'W', type: 'string', describe: 'the destination\'s private work directory (images, the base)' })
    .option('decrypt', { type: 'string', describe: 'destination: the key file of a migration sent with --encrypt' })
    .strictOptions()
    .strict()
    .help()
    .version(VERSION)
    .fail((msg, err) => { throw err ?? new UsageError(msg) })
    .wrap(100)
    .parseSync()
  const given = (names: string[]): string[] => names.filter(n => (a as Record<string, unknown>)[n] !== undefined)
  if (a.receive) {
    const wrong = given(['tree', 'to', 'mode', 'compress', 'checksum', 'encrypt', 'max-rounds', 'after-round', 'progress-fd', 'status-fd'])
    if (wrong.length) throw new UsageError(`--receive takes -W DIR and --decrypt only, not --${wrong[0]}`)
    if (a['work-dir'] === undefined) throw new UsageError('--receive needs -W DIR')
    return { side: 'destination', workDir: resolve(cwd, a['work-dir']), read: readExtOptions({ decrypt: a.decrypt, threads: a.threads }) }
  }
  const wrong = given(['work-dir', 'decrypt'])
  if (wrong.length) throw new UsageError(`--${wrong[0]} belongs to --receive`)
  if (a.tree === undefined || !Number.isInteger(a.tree) || a.tree < 1) throw new UsageError('-t PID is required: the root of the process tree to migrate')
  if (a.to === undefined || a.to.trim() === '') throw new UsageError('--to CMD is required: the command that runs `img-migrate --receive` at the destination')
  const maxRounds = a['max-rounds'] ?? DEFAULT_MAX_ROUNDS
  if (!Number.isInteger(maxRounds) || maxRounds < 1) throw new UsageError(`--max-rounds: "${maxRounds}" is not a round count (1 or more)`)
  const mode = (a.mode as Mode | undefined) ?? DEFAULT_MODE
  if (LAZY_MODES.includes(mode) && a.encrypt !== undefined) throw new UsageError(`--mode ${mode} with --encrypt: the lazy final round's page stream is not encrypted (run it over ssh without --encrypt, or use full or precopy)`)
  // a bad --compress or key file is a usage error now, not in round 1
  const ext = writeExtOptions({ compress: a.compress, checksum: a.checksum, encrypt: a.encrypt, threads: a.threads }, true)!
  const o: SourceOptions = {
    side: 'source', pid: a.tree, to: a.to, mode, ext,
    maxRounds, afterRound: a['after-round'] ?? null,
    progressFd: a['progress-fd'] !== undefined ? parseFd(a['progress-fd'], '--progress-fd') : null,
    statusFd: a['status-fd'] !== undefined ? parseFd(a['status-fd'], '--status-fd') : null,
  }
  return o
}
