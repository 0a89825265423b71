import { dupOf, runMain, withShardFilters } from '@criu-pipes/streamer'
import { parseOptions } from './options.js'
import { extract } from './extract.js'
import { merge } from './merge.js'

runMain('img-join', () => {
  const o = parseOptions()
  const imagesDir = o.imagesDir
  withShardFilters('drain', o.filter, o.shardFds, (shardFds, filters) => {
    const confirmShards = filters ? () => filters.finish() : undefined
    if (imagesDir !== null) extract({ ...o, shardFds, imagesDir, confirmShards })
    else merge({ ...o, shardFds, outFd: dupOf(1), confirmShards })
  })
})
