// Where page data comes from. The daemon decides WHAT to copy (lazy ranges, by dump-time
// address); a PageSource only fetches bytes. Three kinds: a directory of full images, a CRIU page
// server (both answer at once, pulled by the daemon), and a page stream (stream-source.ts), which
// pushes pages on its own and answers requests later.
import type { Region } from '@criu-pipes/sys'

export interface PageSource {
  /** For log lines and error messages: "directory /x", "page server 127.0.0.1:1234". */
  readonly name: string
  /**
   * Fetches up to `nrPages` pages of process `pid` (the pid in the images) starting at the
   * dump-time address `imgAddr`, into `dst` from offset 0. Returns the number of pages delivered:
   * at least 1, possibly fewer than asked (a page server clamps to its runs); 0 only from a
   * source with `stream`, meaning "not here yet". It is only asked for ranges inside PE_LAZY
   * pagemap entries. Throws when the data cannot be had.
   */
  read(pid: number, imgAddr: number, nrPages: number, dst: Region): number
  /** Every page was delivered: end the session in order (a page server gets PS_IOV_CLOSE). */
  close(): void
  /**
   * The restore failed: release fds WITHOUT claiming success. A lazy `criu dump` then resumes
   * its frozen task instead of killing it, so the workload survives a failed migration.
   */
  abort(): void
  /** Present on a source that delivers asynchronously (the page stream). */
  readonly stream?: PageStream
}

/** A run of pages of one process that has arrived and is held until copied. */
export interface Arrival {
  pid: number
  img: number
  nrPages: number
}

/**
 * The asynchronous side of a page stream, driven by the daemon's poll loop: it polls `readFd`
 * (and `writeFd` while `wantsWrite()`), copies what arrives, asks for what faults need.
 */
export interface PageStream {
  readonly readFd: number
  readonly writeFd: number
  /** Requests or control messages are waiting for room on the channel. */
  wantsWrite(): boolean
  /** Writes what is queued, as far as the channel takes it now. */
  flush(): void
  /**
   * Reads what the channel has (a bounded amount per call); returns the runs that arrived, now
   * held. `eof`: the channel closed (the daemon decides whether that loses pages).
   */
  pump(): { arrivals: Arrival[]; eof: boolean }
  /** Ask for these pages before anything else queued upstream. */
  request(pid: number, img: number, nrPages: number): void
  /** The restore finished (FTSR): the feeder may push every page now. */
  startPush(): void
  /** The runs of `pid` held now (a child forked after they arrived may still owe some). */
  heldRuns(pid: number): Arrival[]
  /** Lets go of held pages nobody needs any more (`needed` says who still does). */
  release(needed: (pid: number, imgStart: number, imgEnd: number) => boolean): void
  /** One line for the log: what came pushed, what was requested. */
  summary(): string
}
