// Shard filters, the shape of GNU `split --filter`: each shard travels through its own
// `sh -c CMD`, with $SHARD (0..N-1) and $SHARDS in its environment. On the capture side the
// filter reads its shard on stdin (an uploader: `aws s3 cp - s3://b/ck/$SHARD`); on the read
// side the binary reads the shard from the filter's stdout (a downloader). The pipes between us
// and the filters are real pipes from pipe2(2), so splice(2) keeps working (Node's own child
// stdio would be socketpairs). A shard counts as delivered only when its filter has exited 0:
// an upload that fails at its final commit has read every byte and still failed.
import { spawn } from 'node:child_process'
import { ShardError } from '@criu-pipes/framing'
import { POLLIN, SysError, close, closeQuietly, makePipe, peekExit, pidfdOpen, poll, type ExitStatus } from '@criu-pipes/sys'

/** 'feed': we write each filter's stdin (img-split). 'drain': we read each filter's stdout. */
export type FilterSide = 'feed' | 'drain'

export interface FilterSpec { command: string; count: number }

/** A filter failed: the one line names the shard, the command and how it ended. */
export class FilterError extends Error {
  override name = 'FilterError'
}

// After an error elsewhere (EPIPE on a shard, a truncated stream), how long to wait for a filter
// to be seen exiting: the pipe end closes a moment before the process becomes a zombie, and its
// status is the real explanation. Healthy filters are still blocked on their pipe by then.
const EXIT_GRACE_MS = 500

interface Filter {
  shard: number; pid: number; pidfd: number; status: ExitStatus | null
  /** The status as Node saw it: once the event loop has run, Node has reaped the filter itself. */
  reaped: ExitStatus | null
}

/** What img-split's post-dump completion asks of each shard (img-split's ShardSink). */
export interface FilterSink {
  /** Closes our end of the shard's pipe: EOF for the filter. */
  finish(): void
  /** The one line naming this shard's filter if it exited non-zero or was killed, else null. */
  failed(): string | null
  /** True once this shard's filter exited 0. */
  drained(): boolean
}

/**
 * A filter's exit status, or null while it runs. Read with waitid(WNOWAIT) in a synchronous loop;
 * after an await, Node's SIGCHLD handler may have reaped it first (ECHILD), and then its 'exit'
 * event has the status.
 */
function exitOf(f: Filter): ExitStatus | null {
  if (f.reaped) return f.reaped
  try {
    return peekExit(f.pid)
  } catch (e) {
    if (e instanceof SysError && e.code === 'ECHILD') return f.reaped
    throw e
  }
}

export class ShardFilters {
  /** Our end of each shard's pipe, in shard order: the fds to write (feed) or read (drain). */
  readonly fds: number[]
  private readonly filters: Filter[]
  private readonly command: string
  /** Whether our end of each pipe is still open (an fd number closed once may be reused). */
  private readonly open: boolean[] = []
  private finished = false

  /**
   * Starts `spec.count` filters. Each one's other end is `outerFds[i]` (its stdout when fed, its
   * stdin when drained), or `outerFds[0]` for every shard when one fd is given (the binary's
   * own stdout or stdin). Our copies of the outer fds are closed: the filters own them now.
   */
  constructor(side: FilterSide, spec: FilterSpec, outerFds: readonly number[]) {
    this.command = spec.command
    this.fds = []
    this.filters = []
    try {
      for (let shard = 0; shard < spec.count; shard++) {
        const outer = outerFds.length === 1 ? outerFds[0]! : outerFds[shard]!
        const [r, w] = makePipe()
        const [ours, theirs] = side === 'feed' ? [w, r] : [r, w]
        this.fds.push(ours)
        this.open.push(true)
        const child = spawn('sh', ['-c', spec.command], {
          stdio: side === 'feed' ? [theirs, outer, 'inherit'] : [outer, theirs, 'inherit'],
          env: { ...process.env, SHARD: String(shard), SHARDS: String(spec.count) },
          // Its own process group, so that stopping a filter stops its whole pipeline too.
          detached: true,
        })
        close(theirs)
        if (child.pid === undefined) throw new FilterError(`shard ${shard}: cannot start sh -c '${spec.command}'`)
        // A failed spawn is reported through this event; the pid check above already caught it.
        child.on('error', () => {})
        const f: Filter = { shard, pid: child.pid, pidfd: pidfdOpen(child.pid), status: null, reaped: null }
        child.on('exit', (code, signal) => { f.reaped = code !== null ? { code, signal: null } : { code: null, signal: signal ?? 'an unknown signal' } })
        this.filters.push(f)
      }
    } catch (e) {
      this.stop()
      throw e
    } finally {
      for (const fd of new Set(outerFds)) closeQuietly(fd)
    }
  }

  /**
   * The shards are complete on our side: closes our ends (EOF for an uploader) and waits for
   * every filter. Throws a FilterError as soon as one has failed (the others are stopped).
   * Calling it again returns at once.
   */
  finish(): void {
    if (this.finished) return
    this.finished = true
    this.fds.forEach((_, i) => this.closeOurEnd(i))
    this.await(-1)
    const failed = this.failure()
    if (failed) { this.stop(); throw failed }
    this.closePidfds()
  }

  /**
   * After an error elsewhere: a filter that failed on its own explains it better than the EPIPE
   * or truncation it caused. Stops every filter still running (a half upload must not commit).
   */
  explain(e: unknown): unknown {
    this.finished = true
    const deadline = performance.now() + EXIT_GRACE_MS
    while (!this.failure() && this.running().length > 0) {
      const left = deadline - performance.now()
      if (left <= 0) break
      this.await(Math.ceil(left), true)
    }
    const failed = this.failure()
    this.stop()
    return failed ?? this.named(e)
  }

  /** An error about one shard, with the shard's filter named instead of our end of its pipe. */
  private named(e: unknown): unknown {
    if (!(e instanceof ShardError) || e.shard >= this.filters.length) return e
    return new FilterError(`shard ${e.shard} of ${this.filters.length}: filter '${this.command}': ${e.detail}`)
  }

  /**
   * One sink per shard for a synchronous caller that polls (img-split's capture loop): the
   * answers come from waitid(WNOHANG) on the spot, never from Node events.
   */
  sinks(): FilterSink[] {
    return this.filters.map((f, i) => ({
      finish: () => this.closeOurEnd(i),
      failed: () => { this.peek(); return this.failure(f)?.message ?? null },
      drained: () => { this.peek(); return f.status?.code === 0 },
    }))
  }

  private closeOurEnd(i: number): void {
    if (this.open[i]) closeQuietly(this.fds[i]!)
    this.open[i] = false
  }

  /** Looks at every running filter without waiting. */
  private peek(): void {
    for (const f of this.running()) f.status = exitOf(f)
  }

  private running(): Filter[] { return this.filters.filter(f => f.status === null) }

  private failure(only?: Filter): FilterError | null {
    const f = (only ? [only] : this.filters).find(f => f.status !== null && f.status.code !== 0)
    if (!f) return null
    const how = f.status!.code !== null ? `exited with status ${f.status!.code}` : `was killed by ${f.status!.signal}`
    return new FilterError(`shard ${f.shard} of ${this.filters.length}: filter '${this.command}' ${how}`)
  }

  /** Polls the running filters' pidfds until all exited or one failed (or `once`: one wake-up). */
  private await(timeoutMs: number, once = false): void {
    for (;;) {
      const running = this.running()
      if (running.length === 0 || this.failure()) return
      const revents = poll(running.map(f => ({ fd: f.pidfd, events: POLLIN })), timeoutMs)
      running.forEach((f, i) => { if (revents[i]) f.status = exitOf(f) })
      if (once || revents.every(r => r === 0)) return
    }
  }

  /** SIGTERM to the process group of every filter still running; closes everything of ours. */
  private stop(): void {
    for (const f of this.running()) {
      try { process.kill(-f.pid, 'SIGTERM') } catch { /* it exited meanwhile */ }
    }
    this.fds.forEach((_, i) => this.closeOurEnd(i))
    this.closePidfds()
  }

  private closePidfds(): void {
    for (const f of this.filters) { closeQuietly(f.pidfd); f.pidfd = -1 }
  }
}

/**
 * Runs `body` over the shard fds: the given ones, or with `spec` our ends of the filters' pipes
 * and the filters themselves (the body may call finish() once its shards are complete, before it
 * commits the image, or use the sinks). After the body, every filter must have exited 0.
 */
export function withShardFilters<T>(
  side: FilterSide, spec: FilterSpec | null, shardFds: number[],
  body: (fds: number[], filters: ShardFilters | null) => T,
): T {
  if (!spec) return body(shardFds, null)
  const filters = new ShardFilters(side, spec, shardFds)
  try {
    const r = body(filters.fds, filters)
    // An async body (a server waiting for CRIU on the event loop): finish once it has.
    if (r instanceof Promise) {
      return r.then((v: unknown) => { filters.finish(); return v }).catch((e: unknown) => { throw filters.explain(e) }) as T
    }
    filters.finish()
    return r
  } catch (e) {
    throw filters.explain(e)
  }
}
