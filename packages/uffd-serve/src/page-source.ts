// Where page data comes from. The daemon decides WHAT to copy (lazy ranges, by dump-time
// address); a PageSource only fetches bytes. Three kinds are planned: a directory of full images,
// a CRIU page server, and (later) a shard stream over ssh.
import type { Region } from '@criu-pipes/sys'

export interface PageSource {
  /** For log lines and error messages: "directory /x", "page server 127.0.0.1:1234". */
  readonly name: string
  /**
   * Fetches up to `nrPages` pages of process `pid` (the pid in the images) starting at the
   * dump-time address `imgAddr`, into `dst` from offset 0. Returns the number of pages delivered:
   * at least 1, possibly fewer than asked (a page server clamps to its runs). It is only asked for
   * ranges inside PE_LAZY pagemap entries. Throws when the data cannot be had.
   */
  read(pid: number, imgAddr: number, nrPages: number, dst: Region): number
  /** Every page was delivered: end the session in order (a page server gets PS_IOV_CLOSE). */
  close(): void
  /**
   * The restore failed: release fds WITHOUT claiming success. A lazy `criu dump` then resumes
   * its frozen task instead of killing it, so the workload survives a failed migration.
   */
  abort(): void
}
