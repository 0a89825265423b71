import { createRequire } from 'node:module'
import { hideBin } from 'yargs/helpers'
import {
  streamCli, streamFds, filterOptions, filterSpec, READ_EXT_OPTIONS, WRITE_EXT_OPTIONS, readExtOptions, writeExtOptions, UsageError,
  type StreamFds, type FilterSpec,
} from '@criu-pipes/streamer'
import type { ExtReadOptions, ExtWriteOptions } from '@criu-pipes/framing'

// --version: this package's own version (yargs finds no package.json from an ES module).
const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version

export interface JoinOptions extends StreamFds {
  imagesDir: string | null
  filter: FilterSpec | null
  /** Reading an extended stream (a key, a base). */
  ext: ExtReadOptions
  /** Writing one (merge only); null: the merged stream is plain, criu-image-streamer's. */
  out: ExtWriteOptions | null
}

export function parseOptions(argv = hideBin(process.argv)): JoinOptions {
  const a = filterOptions(streamCli(argv, 'img-join', '$0 [-s FD,...] [-n N --filter CMD] [-D DIR] [-e NAME:FD,...] [-p FD] [--decrypt KEYFILE] [--base DIR] [--expect-stream ID] [--compress C ...] [--threads N]\n\n' +
    'Merges shards (default: stdin) into one ordered stream on stdout, or with -D extracts the ' +
    'image files into DIR for a plain `criu restore -D DIR`. -e sends an external file to its own fd.', 'stdin')
    .option('images-dir', { alias: 'D', type: 'string', describe: 'extract the files into this directory instead of merging' })
    .options({ ...READ_EXT_OPTIONS, ...WRITE_EXT_OPTIONS }), 'drain')
    .version(VERSION)
    .parseSync()
  const out = writeExtOptions(a)
  if (out && a['images-dir'] !== undefined) throw new UsageError('--compress, --checksum and --encrypt shape a merged stream: they do not go with -D')
  return { imagesDir: a['images-dir'] ?? null, ...streamFds(a, 0), filter: filterSpec(a), ext: readExtOptions(a), out }
}
