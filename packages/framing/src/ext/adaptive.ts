// --compress auto: how the next chunk is stored, from what limits the checkpoint now. The writer
// reports, per window of chunks, how long its main thread waited for a shard (the link, or the
// disk behind a shard file, is the bottleneck: CPU spent on ratio is free) and for a worker (the
// cores are the bottleneck: spend less), against the window's wall time. One limit is named per
// window and the choice moves one rung of the ladder for it:
//   link    -> up (more ratio);
//   cores   -> down (less CPU), down to storing chunks as they are;
//   neither -> CRIU itself, or a sink that absorbs everything, sets the pace: stay; except that
//              shard files on a local disk keep at least zstd 1 (FILE_FLOOR): an image that stays
//              on disk is judged by its size, and zstd 1 is the measured best ratio for its speed.
// `decide` is the whole policy, a pure function of the window (tested with injected waits).
//
// The rungs: liblz4 is the cheap compressed one (per core, 256 KiB chunks of shared libraries,
// loaded machine: liblz4 752 MB/s to 46.0 %, libzstd -5 638 MB/s to 46.4 %, -1 500 MB/s to
// 36.3 %, 1 446 MB/s to 32.8 %, 3 257 MB/s to 30.5 %); zstd -1, 1, 3 trade rate for ratio.
import { Codec } from './limits.js'

export interface Rung { codec: number; level: number; name: string }
export const LADDER: readonly Rung[] = [
  { codec: Codec.STORED, level: 0, name: 'stored' },
  { codec: Codec.LZ4, level: 0, name: 'lz4' },
  ...[-1, 1, 3].map(level => ({ codec: Codec.ZSTD, level, name: `zstd ${level}` })),
]
/**
 * auto's cheap look at each chunk (chunk-worker.ts) compresses samples at zstd's fastest level
 * worth trying: whether the chunk compresses at all, at a small fraction of any rung's cost.
 */
export const AUTO_SAMPLE_LEVEL = -5
const STORED_RUNG = 0
const LZ4_RUNG = 1
/** Shard files keep at least this rung (zstd 1): see the header. */
export const FILE_FLOOR = 3
/**
 * Where a stream starts: lz4, one window from storing raw (a link faster than the cores) and two
 * from zstd 1 (a slow link), so the first few MiB cost little whichever it turns out to be.
 */
const STREAM_START = LZ4_RUNG
// Chunks per decision: 4 MiB, a few ms at the rates auto chooses between.
export const WINDOW = 16
// A side limits when it waited at least this share of the window's wall time...
const BUSY_SHARE = 0.2
// ...and this many times longer than the other side.
const DOMINANCE = 2

/** What the shards are: leaving through a link (pipes, sockets, devices) or files on a local disk. */
export type SinkKind = 'link' | 'file'
export type Limit = 'link' | 'cores' | 'neither'
/** One window's measurements, ms. */
export interface WindowWaits { wallMs: number; shardWaitMs: number; workerWaitMs: number }

/** Which side limited the window. */
export function limitOf(w: WindowWaits): Limit {
  const wall = Math.max(w.wallMs, w.shardWaitMs + w.workerWaitMs, Number.MIN_VALUE)
  const link = w.shardWaitMs / wall, cores = w.workerWaitMs / wall
  if (link >= BUSY_SHARE && link >= DOMINANCE * cores) return 'link'
  if (cores >= BUSY_SHARE && cores >= DOMINANCE * link) return 'cores'
  return 'neither'
}

/** The rung of the next window, from this one's rung and limit. */
export function decide(rung: number, limit: Limit, sink: SinkKind): number {
  const floor = sink === 'file' ? FILE_FLOOR : STORED_RUNG
  if (limit === 'link') return Math.max(floor, Math.min(rung + 1, LADDER.length - 1))
  if (limit === 'cores') return Math.max(floor, rung - 1)
  return Math.max(floor, rung)
}

/** Why a rung was chosen, for the stats: one line a person can check. */
export const WHY: Record<Limit, Record<SinkKind, string>> = {
  link: { link: 'the shards waited (the link is the bottleneck): more ratio', file: 'the shard files waited (the disk is the bottleneck): more ratio' },
  cores: { link: 'the workers were busy and the shards were not: less CPU', file: `the workers were busy: less CPU, but not below ${LADDER[FILE_FLOOR]!.name} on a local disk` },
  neither: { link: 'nothing waited (CRIU sets the pace): unchanged', file: `nothing waited (the disk absorbs everything): by ratio, ${LADDER[FILE_FLOOR]!.name} or better` },
}

export interface AutoStats {
  /** Raw bytes per rung. */
  rungs: Record<string, number>
  /** Windows per limit. */
  limits: Record<Limit, number>
  /** The rung that took the most raw bytes, and why auto went there. */
  chose: string
  why: string
  sink: SinkKind
}

export class AdaptiveLevel {
  private rung: number
  private chunks = 0
  private shardWait = 0
  private workerWait = 0
  private windowStart: number | null = null
  private readonly limits: Record<Limit, number> = { link: 0, cores: 0, neither: 0 }
  private readonly raw: number[] = LADDER.map(() => 0)
  /** Per rung, the limit that moved auto there last. */
  private readonly cause: (Limit | null)[] = LADDER.map(() => null)

  constructor(private readonly sink: SinkKind = 'link', private readonly now: () => number = () => performance.now()) {
    this.rung = sink === 'file' ? FILE_FLOOR : STREAM_START
  }

  get codec(): number { return LADDER[this.rung]!.codec }
  get level(): number { return LADDER[this.rung]!.level }
  get current(): Rung { return LADDER[this.rung]! }

  /** A chunk of `rawLength` bytes stored at rung `rung` was written; the waits since the last. */
  note(shardWaitMs: number, workerWaitMs: number, rawLength = 0, rung = this.rung): void {
    this.windowStart ??= this.now()
    this.raw[rung]! += rawLength
    this.shardWait += shardWaitMs
    this.workerWait += workerWaitMs
    if (++this.chunks < WINDOW) return
    const now = this.now()
    const limit = limitOf({ wallMs: now - this.windowStart, shardWaitMs: this.shardWait, workerWaitMs: this.workerWait })
    this.limits[limit]++
    const next = decide(this.rung, limit, this.sink)
    if (next !== this.rung) this.cause[next] = limit
    this.rung = next
    this.chunks = 0
    this.shardWait = this.workerWait = 0
    this.windowStart = now
  }

  /** The rung of the chunk being submitted (its bytes are counted under it when written). */
  get index(): number { return this.rung }

  stats(): AutoStats {
    const rungs: Record<string, number> = {}
    LADDER.forEach((r, i) => { if (this.raw[i]) rungs[r.name] = this.raw[i]! })
    let top = this.rung
    this.raw.forEach((n, i) => { if (n > this.raw[top]!) top = i })
    // What moved auto to that rung; if nothing did (it started there), what held it there most.
    const held = (Object.keys(this.limits) as Limit[]).reduce((x, y) => (this.limits[y] > this.limits[x] ? y : x), 'neither')
    const why = WHY[this.cause[top] ?? held][this.sink]
    return { rungs, limits: { ...this.limits }, chose: LADDER[top]!.name, why, sink: this.sink }
  }
}
