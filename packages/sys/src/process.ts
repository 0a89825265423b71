// Processes by pidfd: a handle on one process that no later process can take over, unlike its
// pid number (reused once it is reaped). Watching child processes from synchronous code: Node's
// child_process reaps its own children on its event loop, which our binaries do not return to
// while they move data; and a second reaper would steal the exit status from it. So: a pidfd to
// poll(2) for the exit, and waitid(WNOWAIT) to read the status while leaving the zombie for Node
// (or pid 1) to reap.
import { readFileSync, readdirSync } from 'node:fs'
import { constants } from 'node:os'
import { c, errno } from './libc.js'
import { EINTR, ESRCH } from './constants.js'
import { SysError, check } from './errors.js'

// pidfd_open(2) has one number on every architecture (the unified table of Linux >= 5.1).
const SYS_PIDFD_OPEN = 434
const SYS_PIDFD_SEND_SIGNAL = 424
// kcmp(2), x86_64 (the uffd ABI of this code base is x86_64's too); KCMP_FILE: the same struct file.
const SYS_KCMP = 312
const KCMP_FILE = 0
const P_PID = 1
const WNOHANG = 1
const WEXITED = 4
const WNOWAIT = 0x01000000
// siginfo_t is 128 bytes; for SIGCHLD, si_code at 8, si_pid at 16, si_status at 24 (64-bit ABIs).
const SIGINFO_SIZE = 128
const CLD_EXITED = 1

const signalName = new Map<number, string>(Object.entries(constants.signals).map(([name, num]) => [num, name]))

/** How a child ended: its exit code, or the signal that killed it. */
export type ExitStatus = { code: number; signal: null } | { code: null; signal: string }

/** A pollable fd that becomes readable (POLLIN) when process `pid` has exited. */
export function pidfdOpen(pid: number): number {
  return Number(check(c.syscall2(SYS_PIDFD_OPEN, pid, 0) as bigint | number, 'pidfd_open', `pid ${pid}`))
}

/**
 * pidfd_send_signal(2): signals exactly the process of `pidfd`. False when it has exited (ESRCH);
 * never reaches another process that got its pid since.
 */
export function pidfdSignal(pidfd: number, signal: NodeJS.Signals): boolean {
  const num = constants.signals[signal]
  if (Number(c.syscall5(SYS_PIDFD_SEND_SIGNAL, pidfd, num, 0, 0, 0)) === 0) return true
  const err = errno()
  if (err === ESRCH) return false
  throw new SysError('pidfd_send_signal', err, signal)
}

/**
 * The pids of the process of `pidfd` from the kernel's own record (fdinfo's NSpid): ours first,
 * then one per nested pid namespace, the innermost last. Null once it has exited (Pid: -1), or
 * when it lives in no pid namespace we can see (Pid: 0).
 */
export function pidfdPids(pidfd: number): number[] | null {
  const info = readFileSync(`/proc/self/fdinfo/${pidfd}`, 'utf8')
  const pid = Number(/^Pid:\s*(-?\d+)$/m.exec(info)?.[1])
  if (!(pid > 0)) return null
  const ns = /^NSpid:\s*([\d\s]+)$/m.exec(info)?.[1]?.trim().split(/\s+/).map(Number)
  return ns ?? [pid]
}

/**
 * Process `pid` has our open file `fd` (the same open file, not a copy) among its fds: kcmp(2)
 * KCMP_FILE against each. False when it does not, or is gone.
 */
export function holdsFile(pid: number, fd: number): boolean {
  let theirs: string[]
  try {
    theirs = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return false
  }
  return theirs.some((n) => Number(c.syscall5(SYS_KCMP, process.pid, pid, KCMP_FILE, fd, Number(n))) === 0)
}

/** The exit status of child `pid` if it has exited (null while it runs); never reaps it. */
export function peekExit(pid: number): ExitStatus | null {
  const info = Buffer.alloc(SIGINFO_SIZE)
  for (;;) {
    if ((c.waitid(P_PID, pid, info, WEXITED | WNOHANG | WNOWAIT) as number) >= 0) break
    const err = errno()
    if (err !== EINTR) throw new SysError('waitid', err, `pid ${pid}`)
  }
  if (info.readInt32LE(16) === 0) return null
  const status = info.readInt32LE(24)
  if (info.readInt32LE(8) === CLD_EXITED) return { code: status, signal: null }
  return { code: null, signal: signalName.get(status) ?? `signal ${status}` }
}
