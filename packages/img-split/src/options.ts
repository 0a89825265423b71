import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { parseFdList, parseExtFiles, parseFd, dupOf, UsageError } from '@criu-pipes/streamer'
import type { CaptureOptions } from './capture.js'

export function parseOptions(argv = hideBin(process.argv)): CaptureOptions {
  const a = yargs(argv)
    .scriptName('img-split')
    .usage('$0 -D DIR [-s FD,FD...] [-e NAME:FD,...] [-p FD]\n\n' +
      'Capture side of `criu dump --stream`: listens on DIR/streamer-capture.sock and splits the\n' +
      'image into shards (default: stdout), readable by img-join, img-buffer and criu-image-streamer.')
    .option('images-dir', { alias: 'D', type: 'string', demandOption: true, describe: 'directory for the socket (the -D given to criu dump)' })
    .option('shard-fds', { alias: 's', type: 'string', describe: 'comma-separated shard fds (pipes or files) [default: stdout]' })
    .option('ext-file-fds', { alias: 'e', type: 'string', describe: 'external files to embed, NAME:FD,... (e.g. fs.tar:20)' })
    .option('progress-fd', { alias: 'p', type: 'string', describe: 'fd for progress lines [default: stderr]' })
    .strict()
    .help()
    .fail((msg, err) => { throw err ?? new UsageError(msg) })
    .parseSync()
  return {
    imagesDir: a['images-dir'],
    shardFds: a['shard-fds'] !== undefined ? parseFdList(a['shard-fds'], '--shard-fds') : [dupOf(1)],
    extFiles: a['ext-file-fds'] !== undefined ? parseExtFiles(a['ext-file-fds'], '--ext-file-fds') : [],
    progressFd: a['progress-fd'] !== undefined ? parseFd(a['progress-fd'], '--progress-fd') : dupOf(2),
  }
}
