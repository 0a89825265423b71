// criu-image-streamer's command line, so CRIU's zdtm (`--stream`), fastfreeze and existing scripts
// run on criu-pipes unchanged. Unlike the original, options may also follow the subcommand, and
// runtime errors exit non-zero.
import { hideBin } from 'yargs/helpers'
import { parseFdList, parseExtFiles, parseFd, parsePortRemaps, streamCli, UsageError, type ExtFile } from '@criu-pipes/streamer'

export const VERSION_LINE = 'criu-image-streamer 1.0.0'
export type Mode = 'capture' | 'serve' | 'extract'

export interface StreamerOptions {
  mode: Mode
  imagesDir: string
  shardFds: number[] | null
  extFiles: ExtFile[]
  progressFd: number | null
  tcpListenRemap: Map<number, number>
}

export function parseOptions(argv = hideBin(process.argv)): StreamerOptions | 'version' {
  if (argv.includes('--version') || argv.includes('-V')) return 'version'
  const a = streamCli(argv, 'criu-image-streamer', '$0 [OPTIONS] --images-dir DIR <capture|serve|extract>\n\nCaptures and extracts CRIU images via UNIX pipes (criu-pipes implementation).', 'stdout (capture) or stdin')
    .command('capture', 'listen for `criu dump --stream` and write shards (img-split)')
    .command('serve', 'read shards and serve `criu restore --stream` (img-buffer)')
    .command('extract', 'read shards and write the image files into the images dir (img-join -D)')
    .option('images-dir', { alias: 'D', type: 'string', demandOption: true })
    .option('tcp-listen-remap', { type: 'string', describe: 'OLD:NEW,... (serve only)' })
    .version(false)
    .demandCommand(1, 1, 'a subcommand is required: capture, serve or extract')
    .parseSync()
  const mode = String(a._[0]) as Mode
  if (!['capture', 'serve', 'extract'].includes(mode)) throw new UsageError(`unknown subcommand ${mode}`)
  if (a['tcp-listen-remap'] !== undefined && mode !== 'serve') throw new UsageError('--tcp-listen-remap is only supported when serving the image')
  return {
    mode,
    imagesDir: a['images-dir'],
    shardFds: a['shard-fds'] !== undefined ? parseFdList(a['shard-fds'], '--shard-fds') : null,
    extFiles: a['ext-file-fds'] !== undefined ? parseExtFiles(a['ext-file-fds'], '--ext-file-fds') : [],
    progressFd: a['progress-fd'] !== undefined ? parseFd(a['progress-fd'], '--progress-fd') : null,
    tcpListenRemap: a['tcp-listen-remap'] !== undefined ? parsePortRemaps(a['tcp-listen-remap'], '--tcp-listen-remap') : new Map(),
  }
}
