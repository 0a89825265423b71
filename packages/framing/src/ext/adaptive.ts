// --compress auto: which zstd level the next chunk gets, from what limits the pipeline now.
// The writer reports two kinds of waiting: for a shard (its pipe is full: the network or disk is
// the bottleneck, so CPU spent on ratio is free) and for a worker (the cores are the bottleneck,
// so spend less). Every WINDOW chunks the level moves one rung towards the side that waits less.
//
// The rungs are zstd levels only: measured on a node heap and on shared libraries (256 KiB
// chunks, one core, README "Compression"), lz4-napi compressed slower than zstd-napi level 1
// (487-563 vs 862-1028 MB/s on the heap) with a worse ratio (29-32 % vs 12-14 %), so lz4 is
// never the better choice for the capture; zstd's fast levels are the cheap end instead.
import { Codec } from './limits.js'

export const LADDER = [-5, -1, 1, 3] as const
const START = 2
const WINDOW = 16
// One side must wait this many times more than the other before the level moves.
const DOMINANCE = 2

export class AdaptiveLevel {
  private rung = START
  private chunks = 0
  private shardWait = 0
  private workerWait = 0

  get codec(): number { return Codec.ZSTD }
  get level(): number { return LADDER[this.rung]! }

  note(shardWaitMs: number, workerWaitMs: number): void {
    this.shardWait += shardWaitMs
    this.workerWait += workerWaitMs
    if (++this.chunks < WINDOW) return
    if (this.shardWait > DOMINANCE * this.workerWait && this.rung < LADDER.length - 1) this.rung++
    else if (this.workerWait > DOMINANCE * this.shardWait && this.rung > 0) this.rung--
    this.chunks = 0
    this.shardWait = this.workerWait = 0
  }
}
