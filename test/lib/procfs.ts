// Process state from /proc. Needed because a restore of pid P fails with
// "Can't fork for PID: File exists" while anything still holds P, even a zombie; and pid 1 on
// the test machines reaps orphans slowly (~2 s). A workload is a session leader, so its pid is
// also its session id: when no process has that session any more, all its pids are free.
import { readdirSync, readFileSync } from 'node:fs'
import { waitFor } from './wait.js'

export interface ProcStat {
  pid: number
  /** R, S, D, Z, T, t, X, ... */
  state: string
  ppid: number
  pgrp: number
  session: number
}

/** /proc/PID/stat, or undefined if there is no such pid (reaped). */
export function procStat(pid: number): ProcStat | undefined {
  let s: string
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // comm may hold spaces and parentheses: the fields we want come after the LAST ')'
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  return { pid, state: f[0] ?? '?', ppid: Number(f[1]), pgrp: Number(f[2]), session: Number(f[3]) }
}

/** True while PID exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  const st = procStat(pid)
  return st !== undefined && st.state !== 'Z' && st.state !== 'X'
}

/** Every pid (zombies included) whose session id is `sid`. */
export function sessionMembers(sid: number): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const st = procStat(Number(name))
    if (st?.session === sid) out.push(st.pid)
  }
  return out
}

/** Waits until no process, not even a zombie, is in session `sid` (pids are reusable). */
export async function waitSessionGone(sid: number, timeoutMs = 15_000): Promise<void> {
  await waitFor(`session ${sid} to be gone (reaped)`, () => (sessionMembers(sid).length === 0 ? true : undefined), {
    timeoutMs,
    intervalMs: 50,
    detail: () => `still there: ${sessionMembers(sid).map((p) => `${p}:${procStat(p)?.state}`).join(' ')}`,
  })
}
