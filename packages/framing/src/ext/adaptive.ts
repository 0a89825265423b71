// --compress auto: how the next chunk is stored, from what limits the pipeline now.
//
// To a local disk (every shard a regular file) nothing waits on a link: the page cache takes
// whatever comes, so the ratio is what counts and auto compresses every chunk as `zstd -1` would
// (no sample decides to store one), whatever the cores do (a person writing a checkpoint to disk
// picks zstd -1); only all-zero chunks are told apart, which costs no byte.
//
// Over a link (pipes, sockets: ssh, a drain, an upload), two things can limit the checkpoint, and
// the writer tells which after every chunk: the link is behind (the shards it writes to are more
// than half full: ShardWriter.backlogged), so CPU spent on ratio is free; or the main thread
// waited for a worker, so the cores are the limit and should spend less. Every WINDOW chunks the
// choice moves one rung towards the side that limits, and stays where neither does (CRIU itself,
// or the main thread, is then the limit: no codec changes that).
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
// Up a rung when the link was behind on at least this share of a window's chunks: it stays behind.
const BEHIND_UP = 0.5
// Down a rung when the workers were waited for this share of the window's time or more: CPU is
// what the checkpoint waits on (less than this is noise of a pipeline that keeps up).
const WORKERS_DOWN = 0.05

export class AdaptiveLevel {
  private rung = ZSTD_1
  private chunks = 0
  private behind = 0
  private workerWait = 0
  private windowStart = performance.now()

  constructor(readonly sink: Sink) {}

  get codec(): number { return LADDER[this.rung]!.codec }
  get level(): number { return LADDER[this.rung]!.level }

  /**
   * After each chunk written: whether the link was behind when it was written, how long the
   * writer waited for workers since the last chunk, and (tests) the time now.
   */
  note(linkBehind: boolean, workerWaitMs: number, now = performance.now()): void {
    if (this.sink === 'disk') return
    if (linkBehind) this.behind++
    this.workerWait += workerWaitMs
    // Storing raw floods the link at once: the first sign of it being behind ends it, without a window.
    if (this.rung === STORED_RUNG && linkBehind) { this.rung++; this.reset(now); return }
    if (++this.chunks < WINDOW) return
    const elapsed = Math.max(now - this.windowStart, 1e-3)
    if (this.behind >= BEHIND_UP * this.chunks) { if (this.rung < LADDER.length - 1) this.rung++ }
    // Down only when the link never was behind in the window: with it behind even now and then,
    // a cheaper rung would only send more bytes into a link that is already full.
    else if (this.behind === 0 && this.workerWait >= WORKERS_DOWN * elapsed && this.rung > STORED_RUNG) this.rung--
    this.reset(now)
  }

  private reset(now: number): void {
    this.chunks = this.behind = 0
    this.workerWait = 0
    this.windowStart = now
  }
}
