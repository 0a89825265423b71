// img-migrate's live status line on a terminal (streamer's StatusLine): the phase, the round, the
// bytes put on the channel so far and their rate, and (auto) the dirty rate measured; redrawn at
// every phase change and round's end, and as the lazy phase's pages go (inside a streamed round
// img-split's own line moves). Only when stderr is a terminal: scripts read -p and --status-fd instead.
import { StatusLine, humanBytes } from '@criu-pipes/streamer'

// A terminal line redrawn more often than this is only flicker (and each draw is a write to stderr).
const REDRAW_MS = 250

export class MigrateStatus {
  private readonly line: StatusLine
  private readonly started = performance.now()
  private bytes = 0
  private dirty: number | null = null
  private lastDraw = 0

  constructor(enabled = process.stderr.isTTY === true, fd = 2) {
    this.line = new StatusLine('img-migrate', enabled, fd)
  }

  /** The dirty rate measured (pages rewritten per page per second). */
  measured(perSecond: number): void { this.dirty = perSecond }

  /** A round's bytes, once it has ended. */
  sent(bytes: number): void { this.bytes += bytes }

  /** Within a round whose bytes are counted as they go (the lazy phase): redrawn REDRAW_MS apart at most. */
  sending(phase: string, roundBytes: number): void {
    const now = performance.now()
    if (now - this.lastDraw < REDRAW_MS) return
    this.draw(phase, this.bytes + roundBytes, now)
  }

  phase(phase: string): void { this.draw(phase, this.bytes, performance.now()) }

  private draw(phase: string, bytes: number, now: number): void {
    this.lastDraw = now
    const s = (now - this.started) / 1000
    const dirty = this.dirty === null ? '' : `, dirty ${(this.dirty * 100).toFixed(1)} %/s`
    this.line.show(`${phase}, ${humanBytes(bytes)} sent, ${humanBytes(bytes / Math.max(s, 1e-3))}/s${dirty}, ${s.toFixed(1)} s`)
  }

  clear(): void { this.line.clear() }
}
