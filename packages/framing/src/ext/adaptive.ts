// --compress auto: how the next chunk is stored, from what limits the pipeline now.
//
// To a local disk (every shard a regular file) nothing waits on a link: the page cache takes
// whatever comes, so the ratio is what counts and auto compresses every chunk as `zstd -1` would
// (no sample decides to store one), whatever the cores do (a person writing a checkpoint to disk
// picks zstd -1); only all-zero chunks are told apart, which costs no byte.
//
// Over a link (pipes, sockets: ssh, a drain, an upload), two things can limit the checkpoint, and
// the writer tells after every chunk how long it waited on each: for the link (a write that found
// no shard with room, ShardWriter.full, and blocked until a consumer took bytes), so CPU spent on
// ratio is free; or for a worker, so the cores are the limit and should spend less. Time, not a
// count of full pipes: a consumer that takes a burst at a time (a NIC's queue, ssh's window)
// leaves its pipe empty and then full again, and the writer sees every fill level in between as
// often as the full one. Every WINDOW chunks the choice moves one rung towards the side that
// waited, and stays where neither did (CRIU itself, or the main thread, is then the limit: no
// codec changes that). Down only while the shard pipes stay nearly empty: pipes and a link's
// queue hold megabytes, so a link that is the limit makes nobody wait until they are full (at
// 100 MB/s, 2 x 1 MiB of zstd output is 14 MiB of pages, many windows), while the workers'
// waits show at once; a consumer that keeps up keeps its pipe near empty.
//
// The ladder, cheapest first: stored as it is (a link faster than the cores compress: compressing
// at all would make the checkpoint slower), the system's liblz4 (the fastest codec with a useful
// ratio: on the mixed memhog's pages about 2.3 GB/s per core to ~20 %, where zstd -5 does 1.8 GB/s
// to the same ratio, so zstd's negative levels are no rung of their own), then zstd -1, 1 and 3.
import { Codec } from './limits.js'

export interface Rung { codec: number; level: number }
export const LADDER: readonly Rung[] = [
  { codec: Codec.STORED, level: 0 },
  { codec: Codec.LZ4, level: 0 },
  ...[-1, 1, 3].map(level => ({ codec: Codec.ZSTD, level })),
]
/** What limits a capture: a local disk (ratio counts) or a link (time counts). */
export type Sink = 'disk' | 'link'

const STORED_RUNG = 0
// zstd level 1: `zstd -1`, what a local disk gets, and where a link starts until it says otherwise.
const ZSTD_1 = 3
const WINDOW = 16
// Up a rung when the writer waited for the link this share of a window's time or more (and more
// than for the workers): the link is what the checkpoint waits on.
const LINK_UP = 0.1
// Down a rung when the workers were waited for this share of the window's time or more, and the
// link almost never (a cheaper rung sends more bytes: into a link that already makes us wait now
// and then, that is slower).
const WORKERS_DOWN = 0.05
const LINK_QUIET = 0.02

export class AdaptiveLevel {
  private rung = ZSTD_1
  private chunks = 0
  private drainedChunks = 0
  private linkWait = 0
  private workerWait = 0
  private windowStart = performance.now()

  constructor(readonly sink: Sink) {}

  get codec(): number { return LADDER[this.rung]!.codec }
  get level(): number { return LADDER[this.rung]!.level }

  /**
   * After each chunk written: how long the writer waited for the link (that chunk's write) and
   * for workers since the last chunk, whether the shards were then nearly empty (their consumers
   * keep up), and (tests) the time now.
   */
  note(linkWaitMs: number, workerWaitMs: number, drained: boolean, now = performance.now()): void {
    if (this.sink === 'disk') return
    if (drained) this.drainedChunks++
    this.linkWait += linkWaitMs
    this.workerWait += workerWaitMs
    // Storing raw floods the link at once: the first wait for it ends that, without a window.
    if (this.rung === STORED_RUNG && linkWaitMs > 0) { this.rung++; this.reset(now); return }
    if (++this.chunks < WINDOW) return
    const elapsed = Math.max(now - this.windowStart, 1e-3)
    const link = this.linkWait / elapsed, workers = this.workerWait / elapsed
    if (link >= LINK_UP && link >= workers) { if (this.rung < LADDER.length - 1) this.rung++ }
    else if (workers >= WORKERS_DOWN && link < LINK_QUIET && this.drainedChunks === this.chunks && this.rung > STORED_RUNG) this.rung--
    this.reset(now)
  }

  private reset(now: number): void {
    this.chunks = this.drainedChunks = 0
    this.linkWait = this.workerWait = 0
    this.windowStart = now
  }
}
