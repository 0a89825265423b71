export { capture, type CaptureOptions, type CaptureResult } from './capture.js'
export { parseOptions } from './options.js'
export { shardSink, type ShardSink } from './shard-sink.js'
