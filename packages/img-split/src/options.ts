import { hideBin } from 'yargs/helpers'
import { streamCli, streamFds, WRITE_EXT_OPTIONS, writeExtOptions } from '@criu-pipes/streamer'
import type { CaptureOptions } from './capture.js'

export function parseOptions(argv = hideBin(process.argv)): CaptureOptions {
  const a = streamCli(argv, 'img-split', '$0 -D DIR [-s FD,FD...] [-e NAME:FD,...] [-p FD] [--compress C] [--checksum] [--encrypt KEYFILE] [--threads N] [--index-out FILE] [--base-index FILE]\n\n' +
    'Capture side of `criu dump --stream`: listens on DIR/streamer-capture.sock and splits the\n' +
    'image into shards (default: stdout), readable by img-join, img-buffer and criu-image-streamer.\n' +
    'Run with no arguments as CRIU\'s --action-script, it makes the dump fail unless every byte left.', 'stdout')
    .option('images-dir', { alias: 'D', type: 'string', demandOption: true, describe: 'directory for the socket (the -D given to criu dump)' })
    .options(WRITE_EXT_OPTIONS)
    .option('index-out', { type: 'string', describe: 'write the content index of the pages carried to this new file (incremental checkpoints)' })
    .option('base-index', { type: 'string', describe: 'the index of the base the receiver holds: its pages are sent as references' })
    .parseSync()
  const refs = a['base-index'] !== undefined
  const ext = writeExtOptions(a, refs)
  return { imagesDir: a['images-dir'], ...streamFds(a, 1), ext, indexOut: a['index-out'] ?? null, baseIndex: a['base-index'] ?? null }
}
