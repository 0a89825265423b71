import { runMain, withShardFilters } from '@criu-pipes/streamer'
import { parseOptions } from './options.js'
import { serve } from './serve.js'

runMain('img-buffer', () => {
  const o = parseOptions()
  return withShardFilters('drain', o.filter, o.shardFds, (shardFds, filters) => serve({ ...o, shardFds, confirmShards: filters ? () => filters.finish() : undefined }))
})
