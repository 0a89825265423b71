// A channel made of a command's stdin and stdout (`ssh host page-feed ...`, `ssh host uffd-serve
// ... --pages-fds 0,1`): pipes we make ourselves and hand to `sh -c CMD`, so the poll loops get
// plain fds (Node's own stdio pipes would be libuv handles). The command's stderr is ours.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeQuietly, makePipe } from '@criu-pipes/sys'

export interface CommandChannel {
  /** What the command writes (its stdout). */
  readFd: number
  /** What the command reads (its stdin). */
  writeFd: number
  child: ChildProcess
}

export function spawnChannel(cmd: string): CommandChannel {
  const [downR, downW] = makePipe()
  const [upR, upW] = makePipe()
  let child: ChildProcess
  try {
    child = spawn('/bin/sh', ['-c', cmd], { stdio: [upR, downW, 'inherit'] })
  } catch (e) {
    for (const fd of [downR, upW]) closeQuietly(fd)
    throw e
  } finally {
    closeQuietly(upR)
    closeQuietly(downW)
  }
  child.on('error', () => { /* shows as EOF on the channel */ })
  return { readFd: downR, writeFd: upW, child }
}

/** How a child ended: "exited 0", "was killed by SIGKILL", "could not start (...)". */
export function childEnded(child: ChildProcess): Promise<string> {
  const said = (code: number | null, signal: NodeJS.Signals | null): string => (signal !== null ? `was killed by ${signal}` : `exited ${code}`)
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(said(child.exitCode, child.signalCode))
  return new Promise((res) => {
    child.once('error', (e) => res(`could not start (${e.message})`))
    child.once('exit', (code, signal) => res(said(code, signal)))
  })
}

/** `p`, or undefined if it has not settled after `ms` (the timer keeps nobody alive). */
export function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([p, new Promise<undefined>((res) => { setTimeout(() => res(undefined), ms).unref() })])
}

/** Resolves with the command's exit code once it has exited, or undefined after `ms`. */
export async function commandExit(child: ChildProcess, ms: number): Promise<number | null | undefined> {
  return (await within(childEnded(child), ms)) === undefined ? undefined : child.exitCode
}
