import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { parseFdList, parseExtFiles, parseFd, parsePortRemaps, dupOf, UsageError } from '@criu-pipes/streamer'
import type { ServeOptions } from './serve.js'

export function parseOptions(argv = hideBin(process.argv)): ServeOptions {
  const a = yargs(argv)
    .scriptName('img-buffer')
    .usage('$0 -D DIR [-s FD,...] [-e NAME:FD,...] [-p FD] [--tcp-listen-remap OLD:NEW,...]\n\n' +
      'Reads a shard stream (default: stdin) into memory, then serves `criu restore --stream -D DIR`\n' +
      'on DIR/streamer-serve.sock, freeing each file as CRIU takes it.')
    .option('images-dir', { alias: 'D', type: 'string', demandOption: true, describe: 'directory for the socket (the -D given to criu restore)' })
    .option('shard-fds', { alias: 's', type: 'string', describe: 'comma-separated shard fds [default: stdin]' })
    .option('ext-file-fds', { alias: 'e', type: 'string', describe: 'send these external files to their own fds, NAME:FD,...' })
    .option('progress-fd', { alias: 'p', type: 'string', describe: 'fd for progress lines [default: stderr]' })
    .option('tcp-listen-remap', { type: 'string', describe: 'change listening TCP ports in files.img, OLD:NEW,...' })
    .strict()
    .help()
    .fail((msg, err) => { throw err ?? new UsageError(msg) })
    .parseSync()
  return {
    imagesDir: a['images-dir'],
    shardFds: a['shard-fds'] !== undefined ? parseFdList(a['shard-fds'], '--shard-fds') : [dupOf(0)],
    extFiles: a['ext-file-fds'] !== undefined ? parseExtFiles(a['ext-file-fds'], '--ext-file-fds') : [],
    progressFd: a['progress-fd'] !== undefined ? parseFd(a['progress-fd'], '--progress-fd') : dupOf(2),
    tcpListenRemap: a['tcp-listen-remap'] !== undefined ? parsePortRemaps(a['tcp-listen-remap'], '--tcp-listen-remap') : new Map(),
  }
}
