// criu under the measure wrapper. Dumps run to the end; restores run without -d (criu stays the
// parent and reaps the restored tree, see test/lib/restore.ts) and are "running" at the moment
// CRIU logs `Restore finished successfully. Tasks resumed.`: that moment is taken from the log's
// own timestamp (seconds since CRIU started logging, µs resolution) added to the wrapper's fork
// time, so it does not depend on how often we poll.
import { closeSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { CriuError, criuArgv, criuBin, killGroup, sleep, waitSessionGone } from '@criu-pipes/e2e/harness'
import { forgetGroup, trackGroup } from './cleanup.js'
import { binPath, readStart, readUsage, type Usage } from './procs.js'
import type { Natives } from './native.js'

const FINISHED = /\((\d+\.\d+)\) Restore finished successfully/

function readTail(path: string, bytes = 16384): string {
  let fd: number
  try { fd = openSync(path, 'r') } catch { return '' }
  try {
    const size = statSync(path).size
    const len = Math.min(bytes, size)
    const buf = Buffer.alloc(len)
    readSync(fd, buf, 0, len, size - len)
    return buf.toString('utf8')
  } finally {
    closeSync(fd)
  }
}

/** Spawns `measure USAGE criu ARGS` in its own process group (tracked); never rejects. */
function spawnMeasured(natives: Natives, args: readonly string[], usageFile: string, logPath: string, timeoutMs: number) {
  const { argv } = criuArgv([...args, '--log-file', logPath])
  const child = execa(natives.measure, [usageFile, criuBin(), ...argv], {
    detached: true, stdin: 'ignore', reject: false, timeout: timeoutMs, killSignal: 'SIGKILL',
  })
  const spawned = new Promise<number>((res, rej) => {
    child.once('spawn', () => { trackGroup(child.pid!); res(child.pid!) })
    child.once('error', rej)
  })
  const done = child.then((r) => {
    if (child.pid) forgetGroup(child.pid)
    return r
  })
  return { argv, spawned, done }
}

export interface CriuRunResult { usage: Usage; logPath: string }

/**
 * What every `criu dump --stream --leave-running` here adds: img-split as CRIU's post-dump hook,
 * which keeps the process frozen until img-split holds the whole image. CRIU's image pipes hold
 * the process's own pages (the parasite vmsplices them, CRIU splices them on, no copy), and CRIU
 * resumes the process once it has written them, not once img-split has read them: without the
 * hook the last pages of pages-N.img, the stack first, are read while the process runs on, and
 * the restored process gets registers from the dump with a stack from later (it crashes, or
 * memhog's check of the page it was checking when frozen misfires: `CORRUPT page N`).
 */
export function holdFrozen(): string[] {
  return ['--action-script', binPath('img-split')]
}

/**
 * Refuses a dump whose image could hold pages the process changed after it (see holdFrozen),
 * unless the image is `discarded` (measured, never restored: projection's CRIU stage, whose CPU
 * the hook's own start-up would blur).
 */
export function checkDumpArgs(args: readonly string[], discarded = false): void {
  if (discarded) return
  const runsOn = args.includes('--leave-running') || args.includes('-R')
  if (args[0] === 'dump' && args.includes('--stream') && runsOn && !args.includes('--action-script')) {
    throw new Error(`bench: criu ${args.join(' ')}: a --leave-running stream dump needs img-split as its post-dump hook (holdFrozen), or the image's last pages are read after the process ran on`)
  }
}

/** `criu dump|... ARGS` to the end under measure; throws CriuError (log tail) on failure. */
export async function runCriuMeasured(natives: Natives, args: readonly string[], workDir: string, name: string,
  timeoutMs = 600_000, opts: { discarded?: boolean } = {}): Promise<CriuRunResult> {
  checkDumpArgs(args, opts.discarded)
  const usageFile = join(workDir, `${name}.usage`)
  const logPath = join(workDir, `${name}.log`)
  const { argv, spawned, done } = spawnMeasured(natives, args, usageFile, logPath, timeoutMs)
  await spawned
  const r = await done
  if (r.exitCode !== 0) {
    const why = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit ${r.exitCode}`
    throw new CriuError(argv, logPath, r.exitCode, `${why}${r.stderr ? `; stderr: ${String(r.stderr).trim().slice(-400)}` : ''}`)
  }
  return { usage: readUsage(usageFile), logPath }
}

export interface MeasuredRestore {
  /** pid of the restored root task */
  pid: number
  /** CLOCK_MONOTONIC ns at which criu was forked */
  startNs: bigint
  /** CLOCK_MONOTONIC ns at which the restored tasks were resumed (CRIU's log time) */
  runningNs: bigint
  logPath: string
  /** SIGKILLs the restored tree, waits for criu to exit and returns criu's usage */
  kill(): Promise<Usage>
}

/**
 * `criu restore ARGS` (no -d) under measure, with log and pidfile in `workDir`. Resolves once the
 * restore finished; rejects with the log tail if criu exits or times out first.
 */
export async function startRestoreMeasured(natives: Natives, args: readonly string[], workDir: string, name: string,
  opts: { readyTimeoutMs?: number; pollMs?: number } = {}): Promise<MeasuredRestore> {
  if (args.some((a) => a === '-d' || a === '--restore-detached')) throw new Error('no -d: criu must stay the parent and reap')
  const usageFile = join(workDir, `${name}.usage`)
  const logPath = join(workDir, `${name}.log`)
  const pidfile = join(workDir, `${name}.pid`)
  rmSync(pidfile, { force: true })
  const { argv, spawned, done } = spawnMeasured(natives, ['restore', ...args, '--pidfile', pidfile], usageFile, logPath, 0)
  const groupPid = await spawned
  let exited = false
  void done.then(() => { exited = true })
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000)
  let pid: number | undefined
  let ts: number | undefined
  for (;;) {
    if (pid === undefined) {
      try { pid = Number(readFileSync(pidfile, 'utf8').trim()) || undefined } catch { /* not yet */ }
    }
    if (pid !== undefined && ts === undefined) {
      const m = FINISHED.exec(readTail(logPath))
      if (m) ts = Number(m[1])
    }
    if (pid !== undefined && ts !== undefined) break
    if (exited || Date.now() > deadline) {
      if (pid !== undefined) killGroup(pid)
      killGroup(groupPid)
      const r = await done
      throw new CriuError(argv, logPath, r.exitCode, exited ? `exit ${r.exitCode} before the restore finished` : 'timed out')
    }
    await sleep(opts.pollMs ?? 5)
  }
  trackGroup(pid) // the restored task leads its own session and group
  const startNs = readStart(usageFile)
  if (startNs === undefined) throw new Error(`${usageFile}: no start time`)
  const restoredPid = pid
  return {
    pid: restoredPid,
    startNs,
    runningNs: startNs + BigInt(Math.round(ts * 1e9)),
    logPath,
    async kill() {
      killGroup(restoredPid)
      await done
      forgetGroup(restoredPid)
      // criu exits once it reaped the tree; the pids are free when no zombie of the session is left
      await waitSessionGone(restoredPid)
      return readUsage(usageFile)
    },
  }
}

// A dump log's (-v4) own timestamps: the first task seized (frozen from then on) and CRIU
// unfreezing the tasks, after the post-dump scripts (cr_dump_finish).
const SEIZED = /^\((\d+\.\d+)\) Seized task/m
const UNFREEZING = /^\((\d+\.\d+)\) Unfreezing tasks/m

/** How long `criu dump` kept the tasks frozen, seconds, from its log. */
export function frozenS(logPath: string): number {
  const log = readFileSync(logPath, 'utf8')
  const from = SEIZED.exec(log), to = UNFREEZING.exec(log)
  if (!from || !to) throw new Error(`${logPath}: no "Seized task" or "Unfreezing tasks" line (a -v4 log of a dump that finished?)`)
  return Number(to[1]) - Number(from[1])
}
