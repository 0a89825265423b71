import { runMain } from '@criu-pipes/streamer'
import { parseOptions, VERSION_LINE } from './options.js'
import { run } from './run.js'

runMain('criu-image-streamer', () => {
  const o = parseOptions()
  if (o === 'version') { process.stdout.write(VERSION_LINE + '\n'); return }
  return run(o)
})
