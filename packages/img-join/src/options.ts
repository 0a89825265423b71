import { hideBin } from 'yargs/helpers'
import { streamCli, streamFds, type StreamFds } from '@criu-pipes/streamer'

export interface JoinOptions extends StreamFds { imagesDir: string | null }

export function parseOptions(argv = hideBin(process.argv)): JoinOptions {
  const a = streamCli(argv, 'img-join', '$0 [-s FD,...] [-D DIR] [-e NAME:FD,...] [-p FD]\n\n' +
    'Merges shards (default: stdin) into one ordered stream on stdout, or with -D extracts the\n' +
    'image files into DIR for a plain `criu restore -D DIR`. -e sends an external file to its own fd.', 'stdin')
    .option('images-dir', { alias: 'D', type: 'string', describe: 'extract the files into this directory instead of merging' })
    .parseSync()
  return { imagesDir: a['images-dir'] ?? null, ...streamFds(a, 0) }
}
