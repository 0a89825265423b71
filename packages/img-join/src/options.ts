import { createRequire } from 'node:module'
import { hideBin } from 'yargs/helpers'
import { streamCli, streamFds, filterOptions, filterSpec, type StreamFds, type FilterSpec } from '@criu-pipes/streamer'

// --version: this package's own version (yargs finds no package.json from an ES module).
const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version

export interface JoinOptions extends StreamFds { imagesDir: string | null; filter: FilterSpec | null }

export function parseOptions(argv = hideBin(process.argv)): JoinOptions {
  const a = filterOptions(streamCli(argv, 'img-join', '$0 [-s FD,...] [-n N --filter CMD] [-D DIR] [-e NAME:FD,...] [-p FD]\n\n' +
    'Merges shards (default: stdin) into one ordered stream on stdout, or with -D extracts the ' +
    'image files into DIR for a plain `criu restore -D DIR`. -e sends an external file to its own fd.', 'stdin')
    .option('images-dir', { alias: 'D', type: 'string', describe: 'extract the files into this directory instead of merging' }), 'drain')
    .version(VERSION)
    .parseSync()
  return { imagesDir: a['images-dir'] ?? null, ...streamFds(a, 0), filter: filterSpec(a) }
}
