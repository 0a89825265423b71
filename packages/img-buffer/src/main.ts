import { hideBin } from 'yargs/helpers'
import { runMain, startServerDaemon, withShardFilters } from '@criu-pipes/streamer'
import { parseOptions } from './options.js'
import { serve } from './serve.js'

const argv = hideBin(process.argv)
runMain('img-buffer', () => {
  const o = parseOptions(argv)
  if (o.server.start) return startServerDaemon('img-buffer', argv, o.imagesDir, o.keepFds, o.server.start.pidfile)
  return withShardFilters('drain', o.filter, o.shardFds, (shardFds, filters) => serve({ ...o, shardFds, confirmShards: filters ? () => filters.finish() : undefined }))
})
