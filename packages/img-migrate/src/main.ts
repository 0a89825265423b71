import { hideBin } from 'yargs/helpers'
import { runMain } from '@criu-pipes/streamer'
import { writeAll } from '@criu-pipes/sys'
import { parseOptions } from './options.js'
import { migrate } from './source.js'
import { receive } from './receive.js'

runMain('img-migrate', async () => {
  const o = parseOptions(hideBin(process.argv))
  if (o.side === 'destination') return receive(o)
  const summary = await migrate(o)
  if (o.progressFd !== null) writeAll(o.progressFd, Buffer.from(`${JSON.stringify(summary)}\n`))
})
