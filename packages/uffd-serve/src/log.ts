// A log in the style of CRIU's (`(00.012345) uffd: 1-7: #PF at 0x7f...`), so that the same eyes
// and greps (zdtm looks for "Error" and "Warn" lines) work on both. Lines are buffered and
// written when the daemon is about to sleep, so per-fault debug lines cost no syscall each.
import { closeSync, openSync } from 'node:fs'
import { writeAll } from '@criu-pipes/sys'

/** CRIU's log levels: -v1 errors only ... -v4 debug; the default is 2. */
export const LOG_ERROR = 1
export const LOG_WARN = 2
export const LOG_INFO = 3
export const LOG_DEBUG = 4
export const DEFAULT_VERBOSITY = LOG_WARN

/** Flush early past this much, so a long busy stretch does not hold megabytes of text. */
const FLUSH_AT = 64 << 10
export const STDERR = 2

export class Log {
  private pending: string[] = []
  private pendingBytes = 0
  private readonly t0 = process.hrtime.bigint()

  private constructor(private fd: number, private readonly owned: boolean, readonly level: number) {}

  /** Appends to `path` (created if needed), as CRIU does with --log-file. */
  static toFile(path: string, level: number): Log {
    return new Log(openSync(path, 'a', 0o644), true, level)
  }

  static toStderr(level: number): Log {
    return new Log(STDERR, false, level)
  }

  /** A log that drops everything (library use, tests). */
  static silent(): Log {
    return new Log(-1, false, 0)
  }

  /** Whether lines go to stderr (then a fatal error needs no second copy there). */
  get toStderr(): boolean {
    return this.fd === STDERR
  }

  enabled(level: number): boolean {
    return level <= this.level && this.fd >= 0
  }

  private stamp(): string {
    const us = Number((process.hrtime.bigint() - this.t0) / 1000n)
    const s = Math.floor(us / 1e6)
    return `(${String(s).padStart(2, '0')}.${String(us % 1e6).padStart(6, '0')})`
  }

  private put(level: number, tag: string, msg: string): void {
    if (!this.enabled(level)) return
    const line = `${this.stamp()} ${tag}${msg}\n`
    this.pending.push(line)
    this.pendingBytes += line.length
    if (this.pendingBytes >= FLUSH_AT || level <= LOG_WARN) this.flush()
  }

  error(msg: string): void { this.put(LOG_ERROR, 'Error (uffd-serve): ', msg) }
  warn(msg: string): void { this.put(LOG_WARN, 'Warn  (uffd-serve): ', msg) }
  info(msg: string): void { this.put(LOG_INFO, 'uffd: ', msg) }
  debug(msg: string): void { this.put(LOG_DEBUG, 'uffd: ', msg) }

  flush(): void {
    if (this.pending.length === 0 || this.fd < 0) return
    const text = Buffer.from(this.pending.join(''))
    this.pending = []
    this.pendingBytes = 0
    writeAll(this.fd, text)
  }

  close(): void {
    this.flush()
    if (this.owned && this.fd >= 0) closeSync(this.fd)
    this.fd = -1
  }
}
