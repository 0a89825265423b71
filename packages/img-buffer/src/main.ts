import { startDecodePool } from '@criu-pipes/framing/decode-pool'

// The decoding threads start before the rest of img-buffer is loaded: they load node and the
// codecs (about 100 ms of CPU each) on the other cores while this thread loads its modules and
// parses its options, and are ready when the drain's first chunk needs one (the drain waited for
// them). A plain stream, or another --threads, lets them go (DecodingReader).
const early = startDecodePool()
const [{ hideBin }, { runMain, startServerDaemon, withShardFilters }, { parseOptions }, { serve }] = await Promise.all([
  import('yargs/helpers'), import('@criu-pipes/streamer'), import('./options.js'), import('./serve.js'),
])

const argv = hideBin(process.argv)
runMain('img-buffer', () => {
  const o = parseOptions(argv)
  if (o.server.start) {
    early.letGo()
    return startServerDaemon('img-buffer', argv, o.imagesDir, o.keepFds, o.server.start.pidfile)
  }
  const ext = { ...o.ext, pool: early }
  return withShardFilters('drain', o.filter, o.shardFds, (shardFds, filters) => serve({ ...o, ext, shardFds, confirmShards: filters ? () => filters.finish() : undefined }))
})
