import { hideBin } from 'yargs/helpers'
import { runMain, startServerDaemon, withShardFilters } from '@criu-pipes/streamer'
import { parseOptions } from './options.js'
import { capture } from './capture.js'
import { isActionHookCall, runActionHook } from './action-hook.js'

const argv = hideBin(process.argv)
if (isActionHookCall(argv, process.env)) runMain('img-split', () => runActionHook(process.env))
else {
  runMain('img-split', () => {
    const o = parseOptions(argv)
    if (o.server.start) return startServerDaemon('img-split', argv, o.imagesDir, o.keepFds, o.server.start.pidfile)
    return withShardFilters('feed', o.filter, o.shardFds, async (shardFds, filters) => { await capture({ ...o, shardFds, shardSinks: filters?.sinks() }) })
  })
}
