import { hideBin } from 'yargs/helpers'
import { runMain } from '@criu-pipes/streamer'
import { isActionHookCall, runActionHook } from '@criu-pipes/img-split'
import { writeAll } from '@criu-pipes/sys'
import { parseOptions } from './options.js'
import { migrate } from './source.js'
import { receive } from './receive.js'

const argv = hideBin(process.argv)
// This binary is CRIU's action script in every round: img-split's post-dump hook.
if (isActionHookCall(argv, process.env)) runMain('img-migrate', () => runActionHook(process.env))
else {
  runMain('img-migrate', async () => {
    const o = parseOptions(argv)
    if (o.side === 'destination') return receive(o)
    const summary = await migrate(o)
    if (o.progressFd !== null) writeAll(o.progressFd, Buffer.from(`${JSON.stringify(summary)}\n`))
  })
}
