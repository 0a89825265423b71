import { createRequire } from 'node:module'
import { hideBin } from 'yargs/helpers'
import { streamCli, streamFds, namedFds, filterOptions, filterSpec, WRITE_EXT_OPTIONS, SERVER_OPTIONS, writeExtOptions, serverMode, type FilterSpec, type ServerMode } from '@criu-pipes/streamer'
import type { CaptureOptions } from './capture.js'

// --version: this package's own version (yargs finds no package.json from an ES module).
const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version

export function parseOptions(argv = hideBin(process.argv)): CaptureOptions & { filter: FilterSpec | null; server: ServerMode; keepFds: number[] } {
  const a = filterOptions(streamCli(argv, 'img-split', '$0 -D DIR [-s FD,FD...] [-n N --filter CMD] [-e NAME:FD,...] [-p FD] [--compress C] [--checksum] [--encrypt KEYFILE] [--threads N] [--index-out FILE] [--base-index FILE] [-d [--pidfile F]] [--connect-timeout S]\n\n' +
    'Capture side of `criu dump --stream`: listens on DIR/streamer-capture.sock and splits the ' +
    'image into shards (default: stdout), readable by img-join, img-buffer and criu-image-streamer. ' +
    'Run with no arguments as CRIU\'s --action-script, it makes the dump fail unless every byte left ' +
    '(and, with --filter, every filter exited 0).', 'stdout')
    .option('images-dir', { alias: 'D', type: 'string', demandOption: true, describe: 'directory for the socket (the -D given to criu dump)' })
    .options(WRITE_EXT_OPTIONS)
    .options(SERVER_OPTIONS)
    .option('index-out', { type: 'string', describe: 'write the content index of the pages carried to this new file (incremental checkpoints)' })
    .option('base-index', { type: 'string', describe: 'the index of the base the receiver holds: its pages are sent as references' }), 'feed')
    .version(VERSION)
    .parseSync()
  const filter = filterSpec(a)
  const ext = writeExtOptions(a, a['base-index'] !== undefined)
  const server = serverMode(a)
  return {
    imagesDir: a['images-dir'], ...streamFds(a, 1), filter, ext, indexOut: a['index-out'] ?? null, baseIndex: a['base-index'] ?? null,
    server, keepFds: namedFds(a, 1), onListening: server.onListening, connectTimeoutMs: server.connectTimeoutMs,
  }
}
