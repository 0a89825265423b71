import { createRequire } from 'node:module'
import { hideBin } from 'yargs/helpers'
import { streamCli, streamFds, namedFds, parsePortRemaps, filterOptions, filterSpec, READ_EXT_OPTIONS, SERVER_OPTIONS, readExtOptions, serverMode, type FilterSpec, type ServerMode } from '@criu-pipes/streamer'
import type { ExtReadOptions } from '@criu-pipes/framing'
import type { ServeOptions } from './serve.js'

// --version: this package's own version (yargs finds no package.json from an ES module).
const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version

export function parseOptions(argv = hideBin(process.argv)): ServeOptions & { ext: ExtReadOptions; filter: FilterSpec | null; server: ServerMode; keepFds: number[] } {
  const a = filterOptions(streamCli(argv, 'img-buffer', '$0 -D DIR [-s FD,...] [-n N --filter CMD] [-e NAME:FD,...] [-p FD] [--tcp-listen-remap OLD:NEW,...] [--decrypt KEYFILE] [--base DIR] [--expect-stream ID] [--threads N] [-d [--pidfile F]] [--connect-timeout S]\n\n' +
    'Reads a shard stream (default: stdin) into memory, then serves `criu restore --stream -D DIR` ' +
    'on DIR/streamer-serve.sock, freeing each file as CRIU takes it. -e sends an external file to its own fd.', 'stdin')
    .option('images-dir', { alias: 'D', type: 'string', demandOption: true, describe: 'directory for the socket (the -D given to criu restore)' })
    .option('tcp-listen-remap', { type: 'string', describe: 'change listening TCP ports in files.img, OLD:NEW,...' })
    .options(READ_EXT_OPTIONS)
    .options(SERVER_OPTIONS), 'drain')
    .version(VERSION)
    .parseSync()
  const server = serverMode(a)
  return {
    server, keepFds: namedFds(a, 0), onListening: server.onListening, connectTimeoutMs: server.connectTimeoutMs,
    filter: filterSpec(a),
    ext: readExtOptions(a),
    imagesDir: a['images-dir'],
    ...streamFds(a, 0),
    tcpListenRemap: a['tcp-listen-remap'] !== undefined ? parsePortRemaps(a['tcp-listen-remap'], '--tcp-listen-remap') : new Map(),
  }
}
