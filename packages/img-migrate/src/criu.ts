// CRIU as a child process: `criu` on PATH, its log in a file (-o, relative to -D), nothing on
// our stdio (the destination's stdout is the channel). While a capture or a serve loop blocks the
// event loop, its exit is seen afterwards, which is all we need of it.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export const CRIU = 'criu'

export interface CriuRun { child: ChildProcess; exited: Promise<number>; log: string }

/** Starts `criu ACTION -D DIR -o LOG ARGS...`; `exited` resolves with the exit code (-1: killed or not started). */
export function startCriu(action: 'dump' | 'restore', dir: string, args: readonly string[]): CriuRun {
  const logName = `${action}.log`
  const child = spawn(CRIU, [action, '-D', dir, '-o', logName, ...args], { stdio: 'ignore' })
  const exited = new Promise<number>(res => {
    child.once('error', () => res(-1))
    child.once('exit', code => res(code ?? -1))
  })
  return { child, exited, log: join(dir, logName) }
}

/** The last error lines of a CRIU log, for a one-line message. */
export function logTail(path: string): string {
  let text: string
  try { text = readFileSync(path, 'utf8') } catch { return `(no log at ${path})` }
  const lines = text.split('\n').filter(l => l.trim())
  const errors = lines.filter(l => /Error|error|fail/.test(l))
  return (errors.length ? errors.slice(-2) : lines.slice(-2)).map(l => l.trim()).join(' | ') || '(empty log)'
}

/** `criu CMD failed (exit N): log tail`. */
export function criuFailed(run: CriuRun, action: string, code: number): Error {
  return new Error(`criu ${action} failed (${code < 0 ? 'killed or not started: is criu on PATH?' : `exit ${code}`}): ${logTail(run.log)}`)
}
