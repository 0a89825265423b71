// img-migrate's live status line on a terminal (streamer's StatusLine): the phase, the round, the
// bytes put on the channel so far and their rate, and (auto) the dirty rate measured; redrawn at
// every phase change and round's end (inside a round img-split's own line moves). Only when
// stderr is a terminal: scripts read -p and --status-fd instead.
import { StatusLine, humanBytes } from '@criu-pipes/streamer'

export class MigrateStatus {
  private readonly line: StatusLine
  private readonly started = performance.now()
  private bytes = 0
  private dirty: number | null = null

  constructor(enabled = process.stderr.isTTY === true, fd = 2) {
    this.line = new StatusLine('img-migrate', enabled, fd)
  }

  /** The dirty rate measured (pages rewritten per page per second). */
  measured(perSecond: number): void { this.dirty = perSecond }

  /** A round's bytes, once it has ended. */
  sent(bytes: number): void { this.bytes += bytes }

  phase(phase: string): void {
    const s = (performance.now() - this.started) / 1000
    const dirty = this.dirty === null ? '' : `, dirty ${(this.dirty * 100).toFixed(1)} %/s`
    this.line.show(`${phase}, ${humanBytes(this.bytes)} sent, ${humanBytes(this.bytes / Math.max(s, 1e-3))}/s${dirty}, ${s.toFixed(1)} s`)
  }

  clear(): void { this.line.clear() }
}
