// The channel's shard sink for img-split's capture in the final round: the post-dump hook may
// answer ok (and CRIU then kill the process) only once the DESTINATION says it holds the image,
// received and checked. (A running round needs no such hold: the process runs on either way, and
// is frozen no longer than the transfer; its answer is read after the dump.) A pipe read
// empty by ssh is not enough: ssh may still lose it. Until the destination answers, the process
// stays frozen; if it fails or the channel ends, the dump fails and the process runs on here.
// The capture loop is synchronous: the answer is looked for with poll(2) without waiting.
import { POLLIN, poll } from '@criu-pipes/sys'
import { RoundStatus, type MigrateChannel, type MigrateMessage } from '@criu-pipes/framing'
import type { ShardSink } from '@criu-pipes/img-split'

export class ReceiptSink implements ShardSink {
  /** The destination's answer for this round, once it came. */
  answer: Extract<MigrateMessage, { kind: 'result' }> | null = null
  private problem: string | null = null

  constructor(private readonly pipe: ShardSink, private readonly ctl: MigrateChannel, private readonly round: number, private readonly want: number) {}

  finish(): void { this.pipe.finish() }

  /** The destination's own reason first: when it gives up, ssh goes too, and the pipe's EPIPE says less. */
  failed(): string | null {
    this.look()
    return this.problem ?? this.pipe.failed()
  }

  drained(): boolean {
    if (!this.pipe.drained()) return false
    this.look()
    return this.answer !== null
  }

  private look(): void {
    if (this.answer || this.problem) return
    if (!((poll([{ fd: this.ctl.readFd, events: POLLIN }], 0)[0] ?? 0))) return
    let m: MigrateMessage | null
    try {
      m = this.ctl.read()
    } catch (e) {
      this.problem = (e as Error).message
      return
    }
    const r = roundResult(m, this.round, this.want)
    if (typeof r === 'string') this.problem = r
    else this.answer = r
  }
}

/** The destination's answer for `round` if it is the one wanted; else why not, in one line. */
export function roundResult(m: MigrateMessage | null, round: number, want: number): Extract<MigrateMessage, { kind: 'result' }> | string {
  if (m === null) return 'the destination closed the channel before it had the round'
  if (m.kind !== 'result') return `the destination answered with a ${m.kind} message, not the round's result`
  if (m.status === RoundStatus.FAILED) return m.error // "destination: PHASE: why"
  if (m.round !== round || m.status !== want) return `the destination answered round ${m.round} status ${m.status}, expected round ${round} status ${want}`
  return m
}
