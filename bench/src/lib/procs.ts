// Starting the programs under test the way users run them: through bash (so shards are real pipes
// or files; Node's own child stdio would be socketpairs), each command in its own process group
// (tracked for cleanup), and the ones we measure under the `measure` wrapper (wait4 rusage).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { repoRoot, killGroup } from '@criu-pipes/e2e/harness'
import { forgetGroup, trackGroup } from './cleanup.js'

export interface Done { exitCode: number; signal: string | undefined; stdout: string; stderr: string }

export interface Group {
  readonly pid: number
  /** resolves when bash exits (never rejects) */
  readonly done: Promise<Done>
  /** SIGKILL the whole group */
  kill(): void
}

/** `bash -o pipefail -c cmd` in a new process group, tracked until it exits. */
export async function startGroup(cmd: string, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<Group> {
  const child = execa('bash', ['-o', 'pipefail', '-c', cmd], {
    cwd: opts.cwd, detached: true, stdin: 'ignore', reject: false, timeout: opts.timeoutMs ?? 600_000, killSignal: 'SIGKILL',
  })
  const pid = await new Promise<number>((res, rej) => {
    child.once('spawn', () => res(child.pid!))
    child.once('error', rej)
  })
  trackGroup(pid)
  const done = child.then((r) => {
    // the command's own background children may still run: the group goes with bash
    killGroup(pid)
    forgetGroup(pid)
    return { exitCode: r.exitCode ?? -1, signal: r.signal, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') }
  })
  return { pid, done, kill: () => killGroup(pid) }
}

/** Runs `cmd` to the end; throws with its stderr if it fails. */
export async function runGroup(cmd: string, what: string, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<Done> {
  const r = await (await startGroup(cmd, opts)).done
  if (r.exitCode !== 0) throw new Error(`${what} failed (exit ${r.exitCode}${r.signal ? `, ${r.signal}` : ''}): ${tail(r.stderr || r.stdout)}`)
  return r
}

export function tail(text: string, n = 600): string {
  const t = text.trim()
  return t.length > n ? `...${t.slice(-n)}` : t
}

/** `node <repo>/packages/<name>/bin/<name>.js`, for a shell command. */
export function bin(name: 'img-split' | 'img-join' | 'img-buffer' | 'uffd-serve' | 'crit-make-lazy'): string {
  return `node ${binPath(name)}`
}

export function binPath(name: string): string {
  return join(repoRoot(), 'packages', name, 'bin', `${name}.js`)
}

/** Single-quotes for bash. */
export function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

export interface Usage {
  /** CLOCK_MONOTONIC ns (process.hrtime.bigint()) just before the fork */
  startNs: bigint
  endNs: bigint
  wallS: number
  cpuS: number
  userS: number
  sysS: number
  /** peak resident set, bytes */
  maxRss: number
  status: number
}

/** The `start` line of a measure file (written at once), or undefined if not there yet. */
export function readStart(file: string): bigint | undefined {
  try {
    const m = /^start (\d+)$/m.exec(readFileSync(file, 'utf8'))
    return m ? BigInt(m[1]!) : undefined
  } catch {
    return undefined
  }
}

/** The whole measure file of a command that has ended. */
export function readUsage(file: string): Usage {
  const text = readFileSync(file, 'utf8')
  const s = /^start (\d+)$/m.exec(text)
  const e = /^end (\d+) (\d+) (\d+) (\d+) (-?\d+)$/m.exec(text)
  if (!s || !e) throw new Error(`${file}: no usage recorded (the command did not end normally): ${JSON.stringify(text)}`)
  const startNs = BigInt(s[1]!)
  const endNs = BigInt(e[1]!)
  const userS = Number(e[2]) / 1e6
  const sysS = Number(e[3]) / 1e6
  return {
    startNs, endNs, wallS: Number(endNs - startNs) / 1e9, userS, sysS, cpuS: userS + sysS,
    maxRss: Number(e[4]) * 1024, status: Number(e[5]),
  }
}

/** `end_ns bytes ...` as the C helpers print it. */
export function parseEndLine(text: string, what: string): { endNs: bigint; bytes: number } {
  const m = /^(\d+) (\d+)/.exec(text.trim())
  if (!m) throw new Error(`${what}: unexpected output ${JSON.stringify(text)}`)
  return { endNs: BigInt(m[1]!), bytes: Number(m[2]) }
}

export function seconds(fromNs: bigint, toNs: bigint): number {
  return Number(toNs - fromNs) / 1e9
}

const TICKS_PER_S = 100 // USER_HZ, the unit of utime/stime in /proc/PID/stat

/** CPU seconds so far (utime + stime, all threads) of a live process, from /proc/PID/stat; undefined if it is gone. */
export function processCpuS(pid: number | string): number | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_S // fields 14 and 15
  } catch {
    return undefined
  }
}
