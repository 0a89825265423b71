// --compress auto: how the next chunk is stored, from what limits the pipeline now. The writer
// reports two kinds of waiting: for a shard (its pipe is full: the network or disk is the
// bottleneck, so CPU spent on ratio is free) and for a worker (the cores are the bottleneck, so
// spend less). Every WINDOW chunks the choice moves one rung towards the side that waits less.
// The cheapest rung stores chunks as they are: when the link is faster than the cores can
// compress (a fast NIC, a local disk), compressing at all would make the checkpoint slower, and
// moving up and down between it and zstd -5 sends the mix of the two that the link takes.
//
// The rungs are zstd levels only: measured on a node heap and on shared libraries (256 KiB
// chunks, one core, README "Compression"), lz4-napi compressed slower than zstd-napi level 1
// (487-563 vs 862-1028 MB/s on the heap) with a worse ratio (29-32 % vs 12-14 %), so lz4 is
// never the better choice for the capture; zstd's fast levels are the cheap end instead.
import { Codec } from './limits.js'

export interface Rung { codec: number; level: number }
export const LADDER: readonly Rung[] = [
  { codec: Codec.STORED, level: 0 },
  ...[-5, -1, 1, 3].map(level => ({ codec: Codec.ZSTD, level })),
]
const STORED_RUNG = 0
// zstd level 1: the measured best ratio for its speed, until the pipeline says otherwise.
const START = 3
const WINDOW = 16
// One side must wait this many times more than the other before the level moves.
const DOMINANCE = 2

export class AdaptiveLevel {
  private rung = START
  private chunks = 0
  private shardWait = 0
  private workerWait = 0

  get codec(): number { return LADDER[this.rung]!.codec }
  get level(): number { return LADDER[this.rung]!.level }

  note(shardWaitMs: number, workerWaitMs: number): void {
    this.shardWait += shardWaitMs
    this.workerWait += workerWaitMs
    // Storing raw floods the link at once: the first wait for a shard ends it, without a window.
    if (this.rung === STORED_RUNG && shardWaitMs > 0) { this.rung++; this.reset(); return }
    if (++this.chunks < WINDOW) return
    if (this.shardWait > DOMINANCE * this.workerWait && this.rung < LADDER.length - 1) this.rung++
    // Down to storing raw only when a whole window never waited for a shard: the link keeps up
    // with everything the cores compress, so compressing only slows the checkpoint.
    else if (this.workerWait > DOMINANCE * this.shardWait && this.rung > STORED_RUNG + 1) this.rung--
    else if (this.rung === STORED_RUNG + 1 && this.shardWait === 0 && this.workerWait > 0) this.rung--
    this.reset()
  }

  private reset(): void {
    this.chunks = 0
    this.shardWait = this.workerWait = 0
  }
}
