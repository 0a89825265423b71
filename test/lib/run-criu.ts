// One way to run criu: always --no-default-config (no /etc/criu/default.conf surprises),
// -v4 and a --log-file in the images (or work) dir, because CRIU's stderr says almost
// nothing and the log is where the reason is. A failure rejects with the log's tail.
import { readFileSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { execa, type Options, type ResultPromise } from 'execa'
import { criuBin } from './paths.js'

export interface CriuOptions {
  /** log file; default `<work dir or images dir>/<action>.log` (absolute) */
  logFile?: string
  /** cwd for criu (relative -D/-W/--log-file resolve against it) */
  cwd?: string
  /** ms, default 120 000 */
  timeout?: number
  /** extra environment */
  env?: Record<string, string>
  /** stdio for criu (default: stdin ignored, stdout/stderr collected) */
  stdio?: Options['stdio']
}

/** The value after `-D`/`--images-dir` (or `-W`/`--work-dir`), also in `--opt=value` form. */
export function optionValue(args: readonly string[], ...names: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    for (const n of names) {
      if (a === n) return args[i + 1]
      if (n.startsWith('--') && a.startsWith(`${n}=`)) return a.slice(n.length + 1)
    }
  }
  return undefined
}

/** Full argv (without the binary) and the absolute log path for `criu <args>`. */
export function criuArgv(args: readonly string[], opts: CriuOptions = {}): { argv: string[]; logPath: string } {
  const cwd = opts.cwd ?? process.cwd()
  const given = optionValue(args, '-o', '--log-file')
  const dir = optionValue(args, '-W', '--work-dir') ?? optionValue(args, '-D', '--images-dir') ?? cwd
  // criu resolves a relative --log-file against the work dir (it chdir()s there first)
  const logPath = given
    ? isAbsolute(given) ? given : join(resolve(cwd, dir), given)
    : resolve(cwd, opts.logFile ?? join(dir, `${args[0] ?? 'criu'}.log`))
  const [action = '', ...rest] = args
  const argv = [action, '--no-default-config']
  if (!given) argv.push('--log-file', logPath)
  if (!rest.some((a) => /^(-v\d?|--verbosity(=.*)?)$/.test(a))) argv.push('-v4')
  return { argv: [...argv, ...rest], logPath }
}

/**
 * What to show of a CRIU log on failure: its `Error (...)` lines (the cause is often far from
 * the end: CRIU keeps logging while it rolls back), then its last `lines` lines.
 */
export function logTail(path: string, lines = 30): string {
  let all: string[]
  try {
    all = readFileSync(path, 'utf8').trimEnd().split('\n')
  } catch {
    return `(no log at ${path})`
  }
  const errors = all.filter((l) => /\bError \(/.test(l)).slice(0, 15)
  const tail = all.slice(-lines)
  const head = errors.length > 0 ? `--- Error lines ---\n${errors.join('\n')}\n--- last ${tail.length} lines ---\n` : ''
  return head + tail.join('\n')
}

export class CriuError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly logPath: string,
    readonly exitCode: number | undefined,
    detail: string,
  ) {
    super(`criu ${args.join(' ')} failed (${detail})\n=== ${logPath} ===\n${logTail(logPath)}`)
    this.name = 'CriuError'
  }
}

/** Spawns criu without waiting (the caller owns the child). */
export function spawnCriu(args: readonly string[], opts: CriuOptions = {}): { child: ResultPromise<{ reject: false }>; logPath: string; argv: string[] } {
  const { argv, logPath } = criuArgv(args, opts)
  const child = execa(criuBin(), argv, {
    cwd: opts.cwd,
    env: opts.env,
    timeout: opts.timeout ?? 120_000,
    ...(opts.stdio ? { stdio: opts.stdio } : { stdin: 'ignore' as const }),
    reject: false,
  }) as ResultPromise<{ reject: false }>
  return { child, logPath, argv }
}

export interface CriuRun {
  exitCode: number
  stdout: string
  stderr: string
  logPath: string
}

/** Runs `criu <args>` to completion; rejects with a CriuError (log tail included) on failure. */
export async function runCriu(args: readonly string[], opts: CriuOptions = {}): Promise<CriuRun> {
  const { child, logPath, argv } = spawnCriu(args, opts)
  const r = await child
  const stdout = typeof r.stdout === 'string' ? r.stdout : ''
  const stderr = typeof r.stderr === 'string' ? r.stderr : ''
  if (r.failed) {
    const why = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit ${r.exitCode}`
    throw new CriuError(argv, logPath, r.exitCode, `${why}${stderr ? `; stderr: ${stderr.trim().slice(-500)}` : ''}`)
  }
  return { exitCode: r.exitCode ?? 0, stdout, stderr, logPath }
}
