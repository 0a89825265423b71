// Whatever the bench starts must not outlive it, even when it fails or is interrupted: every
// process group it starts is SIGKILLed and every tmpfs it mounts is unmounted when the process
// exits, and SIGINT/SIGTERM/SIGHUP end the process through that same path (Node would otherwise
// die on them without running 'exit' listeners).
import { killGroup, raisePipeMaxSize } from '@criu-pipes/e2e/harness'

const groups = new Set<number>()
const finalizers: (() => void)[] = []
let installed = false

function install(): void {
  if (installed) return
  installed = true
  process.once('exit', runAll)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\nbench: ${sig}, cleaning up\n`)
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1))
    })
  }
}

/** SIGKILL process group `pgid` when the bench exits, unless forgotten first. */
export function trackGroup(pgid: number): void {
  install()
  groups.add(pgid)
}

export function forgetGroup(pgid: number): void {
  groups.delete(pgid)
}

/** Run `fn` (synchronously) at exit, after every tracked group is killed; last added runs first. */
export function atExit(fn: () => void): () => void {
  install()
  finalizers.unshift(fn)
  return () => {
    const i = finalizers.indexOf(fn)
    if (i >= 0) finalizers.splice(i, 1)
  }
}

/**
 * fs.pipe-max-size raised for CRIU's lazy page server, which sizes its pipe to 4 MiB (without
 * CAP_SYS_RESOURCE it needs this), as a user of post-copy would; the returned function puts it
 * back, and so does the exit if the bench dies first.
 */
export function holdPipeMaxSize(): () => void {
  const restore: (() => void)[] = []
  raisePipeMaxSize({ teardown: (fn) => { restore.push(() => void fn()) } })
  const undo = atExit(() => restore.forEach((f) => f()))
  return () => {
    restore.forEach((f) => f())
    undo()
  }
}

/** Kills every tracked group now (between benchmarks, or on the way out). */
export function killAllGroups(): void {
  for (const g of groups) killGroup(g)
  groups.clear()
}

function runAll(): void {
  killAllGroups()
  for (const fn of finalizers.splice(0)) {
    try { fn() } catch (e) { process.stderr.write(`bench: cleanup: ${(e as Error).message}\n`) }
  }
}
