// --compress auto: how the next chunk is stored, from what limits the checkpoint now. The writer
// reports, per window of chunks, how long its main thread waited for a shard (the link, or the
// disk behind a shard file, is the bottleneck: CPU spent on ratio is free) and for a worker (the
// cores are the bottleneck: spend less), against the window's wall time. Auto's position on the
// ladder moves by GAIN x (the share spent waiting for shards - the share waiting for workers),
// and the window's limit, named for the stats, is the side that dominated:
//   link    -> up (more ratio);
//   cores   -> down (less CPU), down to storing chunks as they are;
//   neither -> CRIU itself, or a sink that absorbs everything, sets the pace: stay; except that
//              shard files on a local disk keep at least zstd 1 (FILE_FLOOR): an image that stays
//              on disk is judged by its size, and zstd 1 is the measured best ratio for its speed
//              (nor is a chunk stored raw there because its sample did not compress: ext-writer).
// A position between two rungs sends that mix of them (at 1.25, one chunk in four at the upper
// rung): where the link and the cores are both the bottleneck, auto settles on the mix at which
// the main thread waits as long for the one as for the other (both busy), instead of swinging
// between two rungs half and half (a raw chunk takes as much link as four compressed ones, so a
// half-raw mix swamps a slow link).
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
// Chunks per decision: 2 MiB, a few ms at the rates auto chooses between.
export const WINDOW = 8
// How far a window moves the position per unit of (link share - cores share): a window spent
// waiting for the link three quarters of its time moves it 3/8 of a rung, so a slow link takes
// auto from lz4 to zstd 3 in 8 windows (16 MiB), and a balanced pipeline hardly moves it.
export const GAIN = 0.5
// A side limits when it waited at least this share of the window's wall time...
const BUSY_SHARE = 0.2
// ...and this many times longer than the other side.
const DOMINANCE = 2

/** What the shards are: leaving through a link (pipes, sockets, devices) or files on a local disk. */
export type SinkKind = 'link' | 'file'
export type Limit = 'link' | 'cores' | 'neither'
/** One window's measurements, ms. */
export interface WindowWaits { wallMs: number; shardWaitMs: number; workerWaitMs: number }

/** The shares of the window's wall time spent waiting for the shards (link) and the workers (cores). */
function shares(w: WindowWaits): { link: number; cores: number } {
  const wall = Math.max(w.wallMs, w.shardWaitMs + w.workerWaitMs, Number.MIN_VALUE)
  return { link: w.shardWaitMs / wall, cores: w.workerWaitMs / wall }
}

/** Which side limited the window (for the stats: the move itself is decide's). */
export function limitOf(w: WindowWaits): Limit {
  const { link, cores } = shares(w)
  if (link >= BUSY_SHARE && link >= DOMINANCE * cores) return 'link'
  if (cores >= BUSY_SHARE && cores >= DOMINANCE * link) return 'cores'
  return 'neither'
}

/** The position of the next window (rungs, fractional: a mix), from this one's position and waits. */
export function decide(position: number, w: WindowWaits, sink: SinkKind): number {
  const floor = sink === 'file' ? FILE_FLOOR : STORED_RUNG
  const { link, cores } = shares(w)
  return Math.min(LADDER.length - 1, Math.max(floor, position + GAIN * (link - cores)))
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
  /** Where on the ladder: rung floor(position), with a share frac(position) of chunks one rung up. */
  private pos: number
  /** The upper rung's share owed so far (error diffusion: the mix without randomness). */
  private owed = 0
  private chunks = 0
  private shardWait = 0
  private workerWait = 0
  private windowStart: number | null = null
  private readonly limits: Record<Limit, number> = { link: 0, cores: 0, neither: 0 }
  private readonly raw: number[] = LADDER.map(() => 0)
  /** Per rung, the limit that moved auto there last. */
  private readonly cause: (Limit | null)[] = LADDER.map(() => null)

  constructor(private readonly sink: SinkKind = 'link', private readonly now: () => number = () => performance.now()) {
    this.pos = sink === 'file' ? FILE_FLOOR : STREAM_START
  }

  get position(): number { return this.pos }
  /** The rung nearest the position. */
  get current(): Rung { return LADDER[Math.round(this.pos)]! }

  /** The rung of the next chunk (its bytes are counted under it when written: note). */
  next(): number {
    const lower = Math.floor(this.pos)
    this.owed += this.pos - lower
    if (this.owed < 1) return lower
    this.owed -= 1
    return lower + 1
  }

  /** A chunk of `rawLength` bytes stored at `rung` was written; the waits since the last. */
  note(shardWaitMs: number, workerWaitMs: number, rawLength: number, rung: number): void {
    this.windowStart ??= this.now()
    this.raw[rung]! += rawLength
    this.shardWait += shardWaitMs
    this.workerWait += workerWaitMs
    if (++this.chunks < WINDOW) return
    const now = this.now()
    const window = { wallMs: now - this.windowStart, shardWaitMs: this.shardWait, workerWaitMs: this.workerWait }
    const limit = limitOf(window)
    this.limits[limit]++
    const next = decide(this.pos, window, this.sink)
    if (Math.round(next) !== Math.round(this.pos)) this.cause[Math.round(next)] = limit
    this.pos = next
    this.chunks = 0
    this.shardWait = this.workerWait = 0
    this.windowStart = now
  }

  stats(): AutoStats {
    const rungs: Record<string, number> = {}
    LADDER.forEach((r, i) => { if (this.raw[i]) rungs[r.name] = this.raw[i]! })
    let top = Math.round(this.pos)
    this.raw.forEach((n, i) => { if (n > this.raw[top]!) top = i })
    // What moved auto to that rung; if nothing did (it started there), what held it there most.
    const held = (Object.keys(this.limits) as Limit[]).reduce((x, y) => (this.limits[y] > this.limits[x] ? y : x), 'neither')
    const why = WHY[this.cause[top] ?? held][this.sink]
    return { rungs, limits: { ...this.limits }, chose: LADDER[top]!.name, why, sink: this.sink }
  }
}
