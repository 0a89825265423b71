import type { ShardWriter } from './writer.js'

/** What a capture writes an image into: the plain ShardWriter, or the ExtWriter over one. */
export type ImageSink = Pick<ShardWriter, 'spliceFrom' | 'write' | 'open' | 'endFile' | 'endImage' | 'sizes'>

/**
 * A sink whose worker threads read an input themselves (ExtWriter): whole chunks go straight from
 * the pipe into a worker's slot, never through the main thread. `take` moves what it can of the
 * `length` bytes ready on `fd` now and returns how many it took (the rest stays in the pipe until
 * the workers have read what they claimed); `unread` is what they claimed and have not read yet.
 */
export interface ClaimingSink { take(name: string, fd: number, length: number): number; unread(fd: number): number }
