import { runMain } from '@criu-pipes/streamer'
import { parseOptions } from './options.js'
import { serve } from './serve.js'

runMain('img-buffer', () => serve(parseOptions()))
