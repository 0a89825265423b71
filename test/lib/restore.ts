// `criu restore` WITHOUT -d: criu stays the parent of the restored tree and reaps it, so no
// zombie is left for the slow pid 1 (the next restore of the same pids would fail with
// "Can't fork for PID: File exists"), and the test learns how criu ended.
import { readFileSync, rmSync } from 'node:fs'
import { resolve } from 'node:path'
import { forget, killGroup, killOnExit } from './cleanup.js'
import { CriuError, criuArgv, optionValue, spawnCriu, type CriuOptions } from './run-criu.js'
import { waitFor } from './wait.js'

export interface Restore {
  /** pid of the restored root task (from --pidfile) */
  readonly pid: number
  /** the running `criu restore` (execa child, never rejects; resolves when criu exits) */
  readonly criu: ReturnType<typeof spawnCriu>['child']
  readonly logPath: string
  /** SIGKILL the restored process group, then wait for criu to exit; returns criu's result */
  kill(): Promise<Awaited<Restore['criu']>>
}

export interface RestoreOptions extends CriuOptions {
  /** ms to wait for the restore to finish (default 60 000) */
  readyTimeoutMs?: number
}

/**
 * Starts `criu restore <args>` (add -D and the rest; no -d/--restore-detached) with a
 * --pidfile, and resolves once the restored pid is known and the log says "Restore finished
 * successfully". Rejects with the log tail if criu exits or times out first.
 */
export async function startRestore(args: readonly string[], opts: RestoreOptions = {}): Promise<Restore> {
  if (args.some((a) => a === '-d' || a === '--restore-detached'))
    throw new Error('startRestore: no -d/--restore-detached: criu must stay the parent and reap the restored tree')
  // criu chdir()s to the work dir (default: images dir) first: a relative --pidfile is there
  const given = optionValue(args, '--pidfile')
  const dir = optionValue(args, '-W', '--work-dir') ?? optionValue(args, '-D', '--images-dir') ?? '.'
  const pidfile = resolve(opts.cwd ?? process.cwd(), dir, given ?? 'restore.pid')
  const extra = given ? [] : ['--pidfile', pidfile]
  const full = ['restore', ...args, ...extra]
  // a pidfile or log left by an earlier restore from the same dir would look like success
  rmSync(pidfile, { force: true })
  rmSync(criuArgv(full, opts).logPath, { force: true })
  const { child, logPath, argv } = spawnCriu(full, { timeout: 0, ...opts })
  let exited = false
  void child.then(() => (exited = true))
  const readPid = (): number | undefined => {
    try {
      const n = Number(readFileSync(pidfile, 'utf8').trim())
      return n > 0 ? n : undefined
    } catch {
      return undefined
    }
  }
  const finished = (): boolean => {
    try {
      return readFileSync(logPath, 'utf8').includes('Restore finished successfully')
    } catch {
      return false
    }
  }
  let pid: number
  try {
    pid = await waitFor('criu restore to finish', () => {
      const p = readPid()
      if (p !== undefined && finished()) return p
      if (exited) throw new Error('criu exited')
      return undefined
    }, { timeoutMs: opts.readyTimeoutMs ?? 60_000, intervalMs: 25 })
  } catch (e) {
    const timedOut = !exited
    const p = readPid()
    if (p !== undefined) killGroup(p) // a half-restored tree must not keep its pids
    child.kill('SIGKILL')
    const r = await child
    const why = timedOut ? (e as Error).message.split('\n')[0]! : `exit ${r.exitCode}${r.signal ? `, ${r.signal}` : ''} before the restore finished`
    const stderr = typeof r.stderr === 'string' && r.stderr.trim() ? `; stderr: ${r.stderr.trim().slice(-500)}` : ''
    throw new CriuError(argv, logPath, r.exitCode, why + stderr)
  }
  killOnExit(pid)
  return {
    pid,
    criu: child,
    logPath,
    async kill() {
      killGroup(pid)
      const r = await child
      forget(pid)
      return r
    },
  }
}
