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

/** Resolves with the command's exit code once it has exited, or undefined after `ms`. */
export function commandExit(child: ChildProcess, ms: number): Promise<number | null | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((res) => {
    const timer = setTimeout(() => res(undefined), ms)
    child.once('exit', (code) => { clearTimeout(timer); res(code) })
  })
}
