// Lazy-restore helpers shared by the e2e tests: uffd-serve started as zdtm starts a lazy-pages
// daemon, its transfer summaries read back from its log, fs.pipe-max-size raised for CRIU's
// lazy page server, and a workload dumped with `criu dump --lazy-pages` from a pid namespace of
// its own (the frozen source stays alive, so the copy needs the same pids elsewhere).
import { holdSysctlAtLeast } from './sysctl-hold.js'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { execa } from 'execa'
import { buildWorkload } from './build.js'
import { killGroup } from './cleanup.js'
import { repoRoot } from './paths.js'
import { spawnCriu } from './run-criu.js'
import type { TeardownHost } from './tmp-dir.js'
import { waitFor } from './wait.js'
import { workloadFromPid } from './workload.js'
import type { Workload, WorkloadMode } from './workload.js'

export const UFFD_SERVE = join(repoRoot(), 'packages', 'uffd-serve', 'bin', 'uffd-serve.js')
export const PAGE_FEED = join(repoRoot(), 'packages', 'page-feed', 'bin', 'page-feed.js')
const PIPE_MAX_SIZE = '/proc/sys/fs/pipe-max-size'
/** CRIU's page server sizes its lazy pipe to 4 MiB and, without CAP_SYS_RESOURCE, needs this. */
const PAGE_SERVER_PIPE = 4 << 20
const STATUS_FD = 3

export interface Summary {
  copied: number
  total: number
  /** pages dropped by REMOVE/UNMAP (or found already there): owed no more */
  skipped: number
  exited: boolean
}

export interface UffdServe {
  ready: Promise<boolean>
  exit: Promise<{ code: number | null; stderr: string }>
  logPath: string
  pid: number
  kill(): void
}

/**
 * Starts uffd-serve with --status-fd 3 (as zdtm does), logging at -v4 to lazy-pages.log in `work`
 * (to stderr, a pipe to us, with `logFile: false`).
 */
export function startUffdServe(t: TeardownHost, work: string, args: string[], { logFile = true } = {}): UffdServe {
  const child = spawn(process.execPath, [UFFD_SERVE, 'lazy-pages', '--no-default-config', '-W', work,
    ...(logFile ? ['-o', 'lazy-pages.log'] : []), '-v4', '--status-fd', String(STATUS_FD), ...args], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] })
  const errs: Buffer[] = []
  child.stderr!.on('data', (b: Buffer) => errs.push(b))
  const status = child.stdio[STATUS_FD] as Readable
  const ready = new Promise<boolean>((res) => {
    status.once('data', (b: Buffer) => res(b[0] === 0))
    status.once('close', () => res(false))
  })
  const exit = new Promise<{ code: number | null; stderr: string }>((res) =>
    child.once('close', (code) => res({ code, stderr: Buffer.concat(errs).toString() })))
  const kill = (): void => { if (child.exitCode === null) child.kill('SIGKILL') }
  t.teardown(kill)
  return { ready, exit, logPath: join(work, 'lazy-pages.log'), pid: child.pid!, kill }
}

/** The transfer summary of the restored task itself (not of the children it forked). */
export function rootSummary(logPath: string): Summary | undefined {
  const log = readFileSync(logPath, 'utf8')
  const first = /Received PID: (\d+), uffd: (\d+)/.exec(log)
  if (!first) return undefined
  const m = new RegExp(`${first[1]}-${first[2]}: UFFD transferred pages: \\((\\d+)/(\\d+)\\)(.*)`).exec(log)
  if (!m) return undefined
  return {
    copied: Number(m[1]), total: Number(m[2]),
    skipped: Number(/(\d+) skipped/.exec(m[3]!)?.[1] ?? 0), exited: m[3]!.includes('process exited'),
  }
}

/** Every page the task was owed got there, but for those its own munmap/madvise made moot. */
export function allDelivered(s: Summary | undefined, npages: number): boolean {
  return s !== undefined && !s.exited && s.total >= npages && s.copied + s.skipped === s.total
}

export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res))
  const { port } = s.address() as AddressInfo
  await new Promise((res) => s.close(res))
  return port
}

/** Raises fs.pipe-max-size for CRIU's lazy page server (see PAGE_SERVER_PIPE); restored once no test needs it. */
export function raisePipeMaxSize(t: TeardownHost): void {
  // Other test files raise it too, at the same time: the value found is put back by the last.
  holdSysctlAtLeast(t, PIPE_MAX_SIZE, PAGE_SERVER_PIPE)
}

/** Host pids of the children of `pid`. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** The host pid of the only child of `pid`. */
export function onlyChild(pid: number): number | undefined {
  const kids = childrenOf(pid)
  return kids.length === 1 ? kids[0] : undefined
}

export interface LazyDump {
  /** the source workload (host pid), frozen while the dump serves its pages */
  source: Workload
  /** `unshare -pf memhog`: resolves when the namespace is gone */
  ns: ReturnType<typeof execa>
  dump: ReturnType<typeof spawnCriu>
  port: number
}

export interface NamespacedWorkload {
  /** the workload (host pid) */
  source: Workload
  /** `unshare -pf memhog`: resolves when the namespace is gone */
  ns: ReturnType<typeof execa>
}

/**
 * memhog (MIB MiB, `mode`) as init of a new pid namespace (the copy needs the same pids while the
 * frozen source is still alive), verified.
 */
export async function workloadInNs(t: TeardownHost, dir: string, mib: number, mode: WorkloadMode = 'plain'): Promise<NamespacedWorkload> {
  const logPath = join(dir, 'memhog.log')
  const ns = execa('unshare', ['-pf', await buildWorkload(), String(mib), logPath, mode],
    { cwd: dir, detached: true, stdio: 'ignore', reject: false })
  t.teardown(() => killGroup(ns.pid!))
  const pid = await waitFor('the namespaced workload', () => onlyChild(ns.pid!))
  await waitFor('memhog ready', () => (/^ready 1$/m.test(existsSync(logPath) ? readFileSync(logPath, 'utf8') : '') ? true : undefined))
  const source = workloadFromPid(pid, logPath)
  // memhog is a session of its own: the namespace's group kill above misses it once a failed
  // dump has resumed it.
  t.teardown(() => source.kill())
  const npages = (mib << 20) / 4096
  const v = await source.verify()
  if (v !== `verified ${npages} ok`) throw new Error(`source workload: ${v}`)
  return { source, ns }
}

/**
 * workloadInNs, then `criu dump --lazy-pages --port P` into `images`; resolves once the dump
 * serves its lazy pages (on a TCP port: CRIU's own two-host form).
 */
export async function lazyDumpInNs(t: TeardownHost, dir: string, images: string, mib: number, mode: WorkloadMode = 'plain'): Promise<LazyDump> {
  const { source, ns } = await workloadInNs(t, dir, mib, mode)
  const port = await freePort()
  const dump = spawnCriu(['dump', '-t', String(source.pid), '-D', images, '--lazy-pages', '--address', '127.0.0.1', '--port', String(port)])
  t.teardown(() => { dump.child.kill('SIGKILL') })
  await waitFor('the lazy dump to serve pages', () =>
    existsSync(dump.logPath) && readFileSync(dump.logPath, 'utf8').includes('Starting lazy pages server') ? true : undefined,
    { timeoutMs: 60_000 })
  return { source, ns, dump, port }
}
