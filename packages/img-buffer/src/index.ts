export { serve, type ServeOptions } from './serve.js'
export { drain } from './drain.js'
export { parseOptions } from './options.js'
