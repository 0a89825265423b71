import { hideBin } from 'yargs/helpers'
import { runMain } from '@criu-pipes/streamer/run-main'
import { isActionHookCall, runActionHook } from './action-hook.js'

// As CRIU's post-dump hook, img-split runs while the dumped process is frozen: it loads only
// what the hook needs (the capture's modules, yargs and the framing would add a third to its
// start-up), and the capture loads them when it runs.
const argv = hideBin(process.argv)
if (isActionHookCall(argv, process.env)) runMain('img-split', () => runActionHook(process.env))
else {
  runMain('img-split', async () => {
    const [{ withShardFilters }, { parseOptions }, { capture }] = await Promise.all([import('@criu-pipes/streamer'), import('./options.js'), import('./capture.js')])
    const o = parseOptions(argv)
    return withShardFilters('feed', o.filter, o.shardFds, async (shardFds, filters) => { await capture({ ...o, shardFds, shardSinks: filters?.sinks() }) })
  })
}
