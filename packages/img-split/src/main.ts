import { runMain } from '@criu-pipes/streamer'
import { parseOptions } from './options.js'
import { capture } from './capture.js'

runMain('img-split', () => { capture(parseOptions()) })
