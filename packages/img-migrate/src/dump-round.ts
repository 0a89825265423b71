// One round at the source: img-split's capture (in this process, the channel as its one shard)
// and `criu dump --stream` beside it, with img-split's binary as CRIU's action script. In the
// final round the receipt sink holds the hook until the destination has the image; a running
// round's answer is read once the dump is done.
import { openSync, closeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { capture, shardSink } from '@criu-pipes/img-split'
import { StatusLine } from '@criu-pipes/streamer'
import type { ExtWriteOptions, MigrateChannel } from '@criu-pipes/framing'
import { ReceiptSink, roundResult } from './receipt-sink.js'
import { startCriu, criuFailed } from './criu.js'

/**
 * img-split's own binary is CRIU's action script (its post-dump hook, which loads next to
 * nothing while the process is frozen), found beside the library this process uses.
 */
const IMG_SPLIT_HOOK = fileURLToPath(new URL('../../bin/img-split.js', import.meta.resolve('@criu-pipes/img-split')))

export interface RoundSpec {
  pid: number
  round: number
  /** The images directory of this round (the capture's socket, CRIU's log). */
  dir: string
  /** Pre-copy: the process runs on after the dump. */
  leaveRunning: boolean
  ext: ExtWriteOptions | null
  indexOut: string | null
  baseIndex: string | null
  /** The RoundStatus the destination answers once it holds the round. */
  want: number
  channel: { readFd: number; writeFd: number }
  /** The session's control messages (the destination's answers are read through it). */
  ctl: MigrateChannel
}

export interface RoundResult {
  /** Bytes this round put on the channel. */
  bytes: number
  /** From the first frozen image to the capture's end (the hook's answer). */
  freezeMs: number
}

export async function dumpRound(s: RoundSpec): Promise<RoundResult> {
  const pipe = shardSink(s.channel.writeFd, 'pipe', 0)
  const sink = s.leaveRunning ? pipe : new ReceiptSink(pipe, s.ctl, s.round, s.want)
  const devNull = openSync('/dev/null', 'w')
  let criu: ReturnType<typeof startCriu> | undefined
  try {
    const captured = capture({
      imagesDir: s.dir, shardFds: [s.channel.writeFd], extFiles: [], progressFd: devNull, shardSinks: [sink],
      ext: s.ext, status: StatusLine.wanted(false), indexOut: s.indexOut, baseIndex: s.baseIndex,
    })
    // capture() returns at its first await, with the socket bound: CRIU may connect now.
    const hook = IMG_SPLIT_HOOK
    criu = startCriu('dump', s.dir, ['-t', String(s.pid), '--stream', '--action-script', hook, ...(s.leaveRunning ? ['--leave-running'] : [])])
    const run = criu
    let result: Awaited<typeof captured>
    try {
      // A dump that fails before it connects would leave the capture waiting for ever.
      result = await Promise.race([captured, run.exited.then(code => { throw criuFailed(run, 'dump', code) })])
    } catch (e) {
      // The failed hook makes CRIU resume the process: wait for that before anyone reports.
      await run.exited
      throw e
    }
    const code = await run.exited
    if (code !== 0) throw criuFailed(run, 'dump', code)
    if (s.leaveRunning) {
      const answer = roundResult(s.ctl.read(), s.round, s.want)
      if (typeof answer === 'string') throw new Error(answer)
    }
    return { bytes: result.sizes.reduce((a, b) => a + b, 0), freezeMs: result.durationMs }
  } finally {
    closeSync(devNull)
  }
}
