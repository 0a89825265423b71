import type { ShardWriter } from './writer.js'

/** What a capture writes an image into: the plain ShardWriter, or the ExtWriter over one. */
export type ImageSink = Pick<ShardWriter, 'spliceFrom' | 'write' | 'open' | 'endFile' | 'endImage' | 'sizes'>
