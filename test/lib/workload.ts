// The memhog workload (test/fixtures/memhog.c), or its hugetlb sibling hugehog.c, as a test
// object. It runs as a child of the test process (so Node reaps it as soon as CRIU's dump kills
// it: no zombie holds its pid when we restore) in its own session (detached: true), so
// `criu dump -t PID` needs no --shell-job, with stdio on /dev/null. Its log is the channel
// back: `ready <pid>`, `verified <n> ok`, `CORRUPT page <n>`. A restored memhog keeps appending
// to the same log path, so workloadFromPid() gives the same verify() for it.
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { buildWorkload } from './build.js'
import { forget, killGroup, killOnExit } from './cleanup.js'
import { pidAlive, procStat, waitSessionGone } from './procfs.js'
import { sleep, waitFor } from './wait.js'

/**
 * 'random': the memhog of the page stream tests; churn:PCT / churn-copy:PCT: each churn()
 * rewrites PCT % of the pages (incremental checkpoints); 'collide': churn() turns one page into
 * another with the same xxh3-128 (the old page hash); dirty:PCT: the workload itself dirties PCT %
 * of its pages per second (the migration benchmark), logging `dirtied <pages> gen <g> t <ms>`.
 */
export type WorkloadMode = 'plain' | 'events' | 'random' | 'collide' | `churn:${number}` | `churn-copy:${number}` | `dirty:${number}`
/** 'pattern': every word pseudo-random (incompressible); 'mixed': compresses like an app's heap */
export type WorkloadMemory = 'pattern' | 'mixed'
/** hugehog's: private and shared MAP_HUGETLB memory, or one of the two. */
export type HugehogMode = 'both' | 'shared' | 'private'

export interface WorkloadOptions {
  /** test/fixtures/<program>.c (default memhog) */
  program?: 'memhog' | 'hugehog'
  /** memhog: MiB of private anonymous memory to fill; hugehog: huge pages of each kind */
  mib: number
  /** memhog: 'events' also forks, madvise(DONTNEED)s, munmaps and mremaps every tick */
  mode?: WorkloadMode | HugehogMode
  /**
   * memhog: 'mixed' fills the memory like an application's heap (objects, zero pages, text, a little
   * random; see test/fixtures/memhog.c): lz4 -1 makes it about 23 %, zstd -1 about 13 %.
   * Default 'pattern': one pseudo-random word after another, which no codec can shrink.
   */
  memory?: WorkloadMemory
  /** cwd of the workload, and where its log goes */
  dir: string
  /** default <dir>/<program>.log */
  logPath?: string
  /** pattern seed (default the program's) */
  seed?: number
  /**
   * memhog: also a TCP server on 127.0.0.1:tcp (0: any free port; see listeningPort and
   * tcpClient in tcp-client.ts), whatever the mode
   */
  tcp?: number
}

export interface Exit {
  exitCode: number | undefined
  signal: string | undefined
}

export interface Workload {
  readonly pid: number
  readonly logPath: string
  /** resolves once `ready <pid>` is logged; rejects if the process dies first */
  waitReady(timeoutMs?: number): Promise<void>
  /** SIGUSR1, then waits for a `verified <n> ok` logged after the signal; returns that line */
  verify(timeoutMs?: number): Promise<string>
  /** churn modes: SIGUSR2, then waits for its `churned <n> gen <g>`; returns n and g */
  churn(timeoutMs?: number): Promise<{ pages: number; gen: number }>
  /** running (exists and is not a zombie) */
  alive(): boolean
  /** signal the workload's process group (default SIGKILL) */
  kill(signal?: NodeJS.Signals): void
  /**
   * Resolves when the workload has exited AND nothing of its session is left (its forked
   * children included), i.e. when its pids can be restored. Exit status is known only for a
   * workload this process started.
   */
  readonly exited: Promise<Exit>
  /** the whole log so far */
  log(): string
  /** address of logical page 0 and the page count, from the `map` line (valid before any restore) */
  map(): { addr: bigint; npages: number } | undefined
}

export async function startWorkload(opts: WorkloadOptions): Promise<Workload> {
  const program = opts.program ?? 'memhog'
  if (opts.memory === 'mixed' && program !== 'memhog') throw new Error(`${program} has no mixed memory`)
  const bin = await buildWorkload(program)
  const logPath = opts.logPath ?? join(opts.dir, `${program}.log`)
  const mode = opts.mode ?? (program === 'hugehog' ? 'both' : 'plain')
  if (opts.tcp !== undefined && program !== 'memhog') throw new Error(`${program} has no TCP server`)
  const flags = [mode, ...(opts.memory === 'mixed' ? ['mixed'] : []), ...(opts.tcp !== undefined ? [`tcp:${opts.tcp}`] : [])]
  const args = [String(opts.mib), logPath, flags.join(',')]
  if (opts.seed !== undefined) args.push(String(opts.seed))
  const child = execa(bin, args, { cwd: opts.dir, detached: true, stdio: 'ignore', reject: false })
  const pid = await new Promise<number>((res, rej) => {
    child.once('spawn', () => res(child.pid!))
    child.once('error', rej)
  })
  killOnExit(pid)
  const exited = child.then(async (r): Promise<Exit> => {
    await waitSessionGone(pid)
    forget(pid)
    return { exitCode: r.exitCode, signal: r.signal }
  })
  return makeWorkload(pid, logPath, exited)
}

/**
 * A workload we did not start: typically the one `criu restore` brought back (criu is its
 * parent and reaps it). `exited` resolves when the pid and its session are gone.
 */
export function workloadFromPid(pid: number, logPath: string): Workload {
  const exited = (async (): Promise<Exit> => {
    while (procStat(pid)) await sleep(50)
    await waitSessionGone(pid)
    return { exitCode: undefined, signal: undefined }
  })()
  exited.catch(() => {}) // nobody may ever await it
  return makeWorkload(pid, logPath, exited)
}

function makeWorkload(pid: number, logPath: string, exited: Promise<Exit>): Workload {
  let done = false
  void exited.then(() => (done = true), () => {})
  const log = (): string => {
    try {
      return readFileSync(logPath, 'utf8')
    } catch {
      return ''
    }
  }
  const logSize = (): number => {
    try {
      return statSync(logPath).size
    } catch {
      return 0
    }
  }
  const logFrom = (offset: number): string => {
    const fd = openSync(logPath, 'r')
    try {
      const buf = Buffer.alloc(Math.max(0, logSize() - offset))
      const n = readSync(fd, buf, 0, buf.length, offset)
      return buf.subarray(0, n).toString('utf8')
    } finally {
      closeSync(fd)
    }
  }
  const gone = (): boolean => done || !pidAlive(pid)
  const detail = () => `--- ${logPath} ---\n${log().trimEnd().split('\n').slice(-10).join('\n')}`
  return {
    pid,
    logPath,
    exited,
    log,
    alive: () => !gone(),
    kill: (signal = 'SIGKILL') => killGroup(pid, signal),
    map() {
      const m = /^map (0x[0-9a-f]+) (\d+)$/m.exec(log())
      return m ? { addr: BigInt(m[1]!), npages: Number(m[2]) } : undefined
    },
    async waitReady(timeoutMs = 30_000) {
      const want = new RegExp(`^ready ${pid}$`, 'm')
      await waitFor(`memhog ${pid} to log 'ready'`, () => {
        const text = log()
        if (want.test(text)) return true
        if (gone()) throw new Error(`memhog ${pid} exited before it was ready\n${detail()}`)
        return undefined
      }, { timeoutMs, detail })
    },
    async churn(timeoutMs = 60_000) {
      const from = logSize()
      process.kill(pid, 'SIGUSR2')
      return waitFor(`memhog ${pid} to log 'churned'`, () => {
        const m = /^churned (\d+) gen (\d+)$/m.exec(logFrom(from))
        if (m) return { pages: Number(m[1]), gen: Number(m[2]) }
        if (gone()) throw new Error(`memhog ${pid} died before churning\n${detail()}`)
        return undefined
      }, { timeoutMs, detail })
    },
    async verify(timeoutMs = 60_000) {
      const from = logSize()
      process.kill(pid, 'SIGUSR1')
      return waitFor(`memhog ${pid} to log 'verified'`, () => {
        const fresh = logFrom(from)
        const bad = /^(CORRUPT.*|error.*)$/m.exec(fresh)
        if (bad) throw new Error(`memhog ${pid}: ${bad[1]}\n${detail()}`)
        const ok = /^verified \d+ ok$/m.exec(fresh)
        if (ok) return ok[0]
        if (gone()) throw new Error(`memhog ${pid} died before verifying\n${detail()}`)
        return undefined
      }, { timeoutMs, detail })
    },
  }
}
