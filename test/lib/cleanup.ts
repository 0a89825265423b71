// Safety net: workloads run detached (their own session), so execa's `cleanup` does not
// apply to them, and a test that throws midway would leave them running and holding their
// pids. Everything registered here is SIGKILLed when the test process exits.
const groups = new Set<number>()
let installed = false

/** Kill process group `pgid` if the test process exits before `forget(pgid)`. */
export function killOnExit(pgid: number): void {
  if (!installed) process.once('exit', killAll)
  installed = true
  groups.add(pgid)
}

export function forget(pgid: number): void {
  groups.delete(pgid)
}

/** SIGKILL a process group, ignoring "no such process". */
export function killGroup(pgid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pgid, signal)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e
  }
}

function killAll(): void {
  for (const g of groups) killGroup(g)
  groups.clear()
}
