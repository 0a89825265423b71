// A log in the style of CRIU's (`(00.012345) uffd: 1-7: #PF at 0x7f...`), so that the same eyes
// and greps (zdtm looks for "Error" and "Warn" lines) work on both. Lines are buffered and
// written when the daemon is about to sleep, so per-fault debug lines cost no syscall each.
//
// Logging never kills the daemon: a restored process whose daemon died reads zero pages. A write
// that fails (a stderr pipe whose reader went away: EPIPE; a full disk or /dev/full: ENOSPC) drops
// its lines; they are counted, and the count is logged once the log takes a write again, or at
// close. SIGPIPE cannot kill us either: Node sets it to SIG_IGN at start-up (the daemon test
// checks /proc/PID/status), so a dead reader is only the EPIPE above. (Node opens files O_CLOEXEC.)
import { closeSync, constants, openSync } from 'node:fs'
import { O_APPEND, O_CREAT, O_TRUNC, O_WRONLY, SysError, UntrustedFileError, dup2, openPrivateFile, writeAll } from '@criu-pipes/sys'
import type { CheckedDir } from '@criu-pipes/sys'
import { UsageError } from '@criu-pipes/streamer'

/** CRIU's log levels: -v1 errors only ... -v4 debug; the default is 2. */
export const LOG_ERROR = 1
export const LOG_WARN = 2
export const LOG_INFO = 3
export const LOG_DEBUG = 4
export const DEFAULT_VERBOSITY = LOG_WARN

/** Flush early past this much, so a long busy stretch does not hold megabytes of text. */
const FLUSH_AT = 64 << 10
export const STDERR = 2
/** What CRIU's log_init() does (O_CREAT|O_TRUNC|O_APPEND, 0600); openPrivateFile adds the checks. */
const LOG_FLAGS = O_WRONLY | O_CREAT | O_TRUNC | O_APPEND
const LOG_MODE = 0o600
const DEV_NULL = '/dev/null'

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown }).code
  return typeof code === 'string' ? code : (e as Error).message
}

export class Log {
  private pending: string[] = []
  private pendingBytes = 0
  private readonly t0 = process.hrtime.bigint()
  /** Lines lost to failed writes since the log last took one, and why the first was lost. */
  private dropped = 0
  private dropReason = ''
  private stderrDetached = false

  private constructor(private fd: number, private readonly owned: boolean, readonly level: number) {}

  /**
   * Truncates or creates `path` (mode 0600), as CRIU does with --log-file; a symlink there is
   * refused, never followed, and so are a FIFO and a file another user made (we run as root: see
   * sys's openPrivateFile). Inside `within` (the checked work dir) it is opened through its fd.
   */
  static toFile(path: string, level: number, within?: CheckedDir): Log {
    try {
      return new Log(openPrivateFile(path, LOG_FLAGS, LOG_MODE, within), true, level)
    } catch (e) {
      if (e instanceof UntrustedFileError) throw new Error(`log file ${e.message}`)
      throw new Error(`cannot open log file ${path}: ${e instanceof SysError ? e.code : errorCode(e)}`)
    }
  }

  /** A log on an fd the caller keeps (tests). */
  static toFd(fd: number, level: number): Log {
    return new Log(fd, false, level)
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

  /** Where a child of ours should write so that its lines land with ours: the log file, or our stderr. */
  get outputFd(): number {
    return this.owned && this.fd >= 0 ? this.fd : STDERR
  }

  /** Whether stderr was pointed away from whoever started us (see detachStderr). */
  get detached(): boolean {
    return this.stderrDetached
  }

  /** Lines dropped and not yet reported in the log. */
  get droppedLines(): number {
    return this.dropped
  }

  /**
   * For the detached daemon (-d), just before it reports readiness: the stderr it inherited is a
   * pipe to the starter, which exits then. From here on, stderr is the log file, or /dev/null
   * without one (what CRIU's daemon does with its stdio).
   */
  detachStderr(): void {
    if (this.owned && this.fd >= 0) dup2(this.fd, STDERR)
    else {
      const nul = openSync(DEV_NULL, constants.O_WRONLY)
      dup2(nul, STDERR)
      closeSync(nul)
    }
    this.stderrDetached = true
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

  /** Writes the pending lines; on failure drops them (counted). Never throws. */
  flush(): void {
    if (this.pending.length === 0 || this.fd < 0) return
    const lines = this.pending.length
    if (this.dropped > 0) this.pending.unshift(this.dropNote())
    const text = Buffer.from(this.pending.join(''))
    this.pending = []
    this.pendingBytes = 0
    try {
      writeAll(this.fd, text)
      this.dropped = 0
    } catch (e) {
      if (this.dropped === 0) this.dropReason = errorCode(e)
      this.dropped += lines
    }
  }

  /** Flushes, reports lines still dropped (on stderr when the log is elsewhere), closes. Never throws. */
  close(): void {
    this.flush()
    if (this.dropped > 0 && this.fd >= 0) {
      const places: [number, string][] = [[this.fd, this.dropNote()]]
      if (this.fd !== STDERR && !this.stderrDetached) places.push([STDERR, `uffd-serve: warning: ${this.dropText()}\n`])
      for (const [fd, note] of places) {
        try { writeAll(fd, Buffer.from(note)); break } catch { /* tried the next place, or nowhere left */ }
      }
    }
    if (this.owned && this.fd >= 0) {
      try { closeSync(this.fd) } catch { /* a deferred write error (NFS): nothing left to tell */ }
    }
    this.fd = -1
  }

  private dropText(): string {
    return `${this.dropped} log lines were dropped: the log write failed (${this.dropReason})`
  }

  private dropNote(): string {
    return `${this.stamp()} Warn  (uffd-serve): ${this.dropText()}\n`
  }
}

const isCount = (s: string | undefined): s is string => s !== undefined && /^\d+$/.test(s)

/**
 * CRIU's -v is getopt "v::": `-v` and `--verbosity` add one to the level (default 2), `-vvv` adds
 * three, `-v4` and `--verbosity=4` set it. yargs cannot say all of that, so these forms are taken
 * out of argv here. A separate number (`-v 4`, `--verbosity 4`) is accepted as a value too.
 */
export function takeVerbosity(argv: readonly string[]): { rest: string[]; verbosity: number } {
  let verbosity = DEFAULT_VERBOSITY
  const rest: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') { rest.push(...argv.slice(i)); break }
    let m: RegExpExecArray | null
    if ((m = /^-(v+)$/.exec(a)) || a === '--verbosity') {
      const next = argv[i + 1]
      if (isCount(next)) { verbosity = Number(next); i++ }
      else verbosity += m ? m[1]!.length : 1
    } else if ((m = /^-v(\d+)$/.exec(a)) || (m = /^--verbosity=(\d+)$/.exec(a))) {
      verbosity = Number(m[1])
    } else if (/^--verbosity=/.test(a)) {
      throw new UsageError(`bad verbosity: ${a}`)
    } else {
      rest.push(a)
    }
  }
  return { rest, verbosity }
}
