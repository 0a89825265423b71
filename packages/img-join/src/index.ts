export { extract, type ExtractOptions } from './extract.js'
export { merge, type MergeOptions } from './merge.js'
export { parseOptions, type JoinOptions } from './options.js'
