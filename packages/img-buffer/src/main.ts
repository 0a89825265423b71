import { readdirSync } from 'node:fs'
import { opensExtended, startDecodePool } from '@criu-pipes/framing/decode-pool'

// An extended stream's decoding threads start before the rest of img-buffer is loaded, when a
// shard file it was started with begins with a stream header (the options that name the shards
// are not parsed yet: every inherited fd but stdout and stderr is looked at, without moving its
// offset). They load node and the codecs (about 60 ms of CPU each) on the other core while this
// thread loads its modules, and are ready when the drain's first chunk needs one: started at the
// stream header, they made the drain wait 120-170 ms. A plain stream starts none; shards on
// pipes start them at the header (DecodingReader), as does another --threads.
const inherited = readdirSync('/proc/self/fd').map(Number).filter(fd => fd === 0 || fd > 2)
const early = inherited.some(opensExtended) ? startDecodePool() : null
const [{ hideBin }, { runMain, startServerDaemon, withShardFilters }, { parseOptions }, { serve }] = await Promise.all([
  import('yargs/helpers'), import('@criu-pipes/streamer'), import('./options.js'), import('./serve.js'),
])

const argv = hideBin(process.argv)
runMain('img-buffer', () => {
  const o = parseOptions(argv)
  if (o.server.start) {
    early?.letGo()
    return startServerDaemon('img-buffer', argv, o.imagesDir, o.keepFds, o.server.start.pidfile)
  }
  const ext = { ...o.ext, pool: early }
  return withShardFilters('drain', o.filter, o.shardFds, (shardFds, filters) => serve({ ...o, ext, shardFds, confirmShards: filters ? () => filters.finish() : undefined }))
})
