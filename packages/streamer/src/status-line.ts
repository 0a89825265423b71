// One live status line on a terminal (bytes, rate, ratio, elapsed), redrawn a few times a second
// and cleared at the end. Only when stderr is a terminal and no -p was given: a pipe or file on
// stderr (scripts, CI, logs) never gets it, and -p means someone parses our progress.
import { writeSync } from 'node:fs'

const REDRAW_MS = 250
const CLEAR = '\r\x1b[K'

export const humanBytes = (n: number): string =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(0)} KB`

export class StatusLine {
  private readonly started = performance.now()
  private last = 0
  private shown = false

  constructor(private readonly bin: string, private readonly enabled: boolean, private readonly fd = 2) {}

  /** Whether a binary shows the line: stderr a terminal, progress not redirected with -p. */
  static wanted(progressGiven: boolean): boolean { return !progressGiven && process.stderr.isTTY === true }

  /**
   * Redraws if it is time. `counts` (called only then): image bytes so far, and bytes on the
   * shards when a codec makes them differ (null: no ratio).
   */
  update(counts: () => [raw: number, stored: number | null]): void {
    if (!this.enabled) return
    const now = performance.now()
    if (now - this.last < REDRAW_MS) return
    this.last = now
    const [raw, stored] = counts()
    const s = (now - this.started) / 1000
    const ratio = stored !== null && raw > 0 ? `, ratio ${(stored / raw * 100).toFixed(1)} %` : ''
    this.write(`${CLEAR}${this.bin}: ${humanBytes(raw)}, ${humanBytes(raw / Math.max(s, 1e-3))}/s${ratio}, ${s.toFixed(1)} s`)
    this.shown = true
  }

  /** Draws `text` at once (a phase change, for a line that is more than a byte count). */
  show(text: string): void {
    if (!this.enabled) return
    this.write(`${CLEAR}${this.bin}: ${text}`)
    this.shown = true
  }

  clear(): void {
    if (this.shown) this.write(CLEAR)
    this.shown = false
  }

  private write(text: string): void {
    try { writeSync(this.fd, text) } catch { /* a status line is never worth failing for */ }
  }
}
