import { hideBin } from 'yargs/helpers'
import { streamCli, streamFds, WRITE_EXT_OPTIONS, writeExtOptions } from '@criu-pipes/streamer'
import type { CaptureOptions } from './capture.js'

export function parseOptions(argv = hideBin(process.argv)): CaptureOptions {
  const a = streamCli(argv, 'img-split', '$0 -D DIR [-s FD,FD...] [-e NAME:FD,...] [-p FD] [--compress C] [--checksum] [--encrypt KEYFILE] [--threads N]\n\n' +
    'Capture side of `criu dump --stream`: listens on DIR/streamer-capture.sock and splits the\n' +
    'image into shards (default: stdout), readable by img-join, img-buffer and criu-image-streamer.\n' +
    'Run with no arguments as CRIU\'s --action-script, it makes the dump fail unless every byte left.', 'stdout')
    .option('images-dir', { alias: 'D', type: 'string', demandOption: true, describe: 'directory for the socket (the -D given to criu dump)' })
    .options(WRITE_EXT_OPTIONS)
    .parseSync()
  return { imagesDir: a['images-dir'], ...streamFds(a, 1), ext: writeExtOptions(a) }
}
