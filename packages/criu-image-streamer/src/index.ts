export { parseOptions, VERSION_LINE, type StreamerOptions } from './options.js'
export { run } from './run.js'
