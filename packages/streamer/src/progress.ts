// Progress lines, as criu-image-streamer prints them (zdtm and fastfreeze parse them):
// `socket-init`, `checkpoint-start`, and one line of stats JSON with keys in this order.
import { writeSome } from '@criu-pipes/sys'
import type { ShardStat } from '@criu-pipes/framing'

export class Progress {
  constructor(private readonly fd: number) {}

  /** Progress is advisory: a reader that went away must not fail a checkpoint. */
  line(text: string): void {
    try {
      const buf = Buffer.from(text + '\n')
      let off = 0
      while (off < buf.length) {
        const n = writeSome(this.fd, buf, off)
        if (n <= 0) return
        off += n
      }
    } catch { /* ignored on purpose, like the original */ }
  }

  /** `extra`: the extended stream's counts (raw, stored, codecs), after criu-image-streamer's keys. */
  stats(shards: readonly ShardStat[], extra: object | null = null): void {
    this.line(JSON.stringify({ shards: shards.map(s => ({ size: s.size, transfer_duration_millis: s.transfer_duration_millis })), ...extra }))
  }
}
