import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { parseFdList, parseExtFiles, parseFd, dupOf, UsageError, type ExtFile } from '@criu-pipes/streamer'

export interface JoinOptions { shardFds: number[]; imagesDir: string | null; extFiles: ExtFile[]; progressFd: number }

export function parseOptions(argv = hideBin(process.argv)): JoinOptions {
  const a = yargs(argv)
    .scriptName('img-join')
    .usage('$0 [-s FD,...] [-D DIR] [-e NAME:FD,...] [-p FD]\n\n' +
      'Merges shards (default: stdin) into one ordered stream on stdout, or with -D extracts the\n' +
      'image files into DIR for a plain `criu restore -D DIR`.')
    .option('shard-fds', { alias: 's', type: 'string', describe: 'comma-separated shard fds [default: stdin]' })
    .option('images-dir', { alias: 'D', type: 'string', describe: 'extract the files into this directory instead of merging' })
    .option('ext-file-fds', { alias: 'e', type: 'string', describe: 'send these external files to their own fds, NAME:FD,...' })
    .option('progress-fd', { alias: 'p', type: 'string', describe: 'fd for the stats line [default: stderr]' })
    .strict()
    .help()
    .fail((msg, err) => { throw err ?? new UsageError(msg) })
    .parseSync()
  return {
    shardFds: a['shard-fds'] !== undefined ? parseFdList(a['shard-fds'], '--shard-fds') : [dupOf(0)],
    imagesDir: a['images-dir'] ?? null,
    extFiles: a['ext-file-fds'] !== undefined ? parseExtFiles(a['ext-file-fds'], '--ext-file-fds') : [],
    progressFd: a['progress-fd'] !== undefined ? parseFd(a['progress-fd'], '--progress-fd') : dupOf(2),
  }
}
