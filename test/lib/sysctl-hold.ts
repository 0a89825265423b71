// A machine-wide sysctl raised for a test while other test files (tap runs them in parallel)
// may raise the same one: each saving and restoring on its own, one file put the value back
// while another still needed it. So the holders are counted: the first saves the value it
// found, the last puts it back. The count lives in a state file in a root-only directory and
// is changed under a lock (mkdir is atomic); a holder whose process is gone no longer counts.
import { lstatSync, mkdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import type { TeardownHost } from './tmp-dir.js'

const STATE_DIR = '/run/criu-pipes-tests'
// A lock older than this was left by a process that died holding it.
const STALE_LOCK_MS = 30_000
const RETRY_MS = 10

interface State { saved: string; holders: number[] }

function stateDir(): string {
  mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 })
  const st = lstatSync(STATE_DIR)
  if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) {
    throw new Error(`${STATE_DIR} is not a private directory of ours: refusing to keep test state there`)
  }
  return STATE_DIR
}

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true } catch { return false }
}

function locked<T>(name: string, fn: (statePath: string) => T): T {
  const dir = stateDir()
  const lock = join(dir, `${name}.lock`)
  const nap = new Int32Array(new SharedArrayBuffer(4))
  for (;;) {
    try { mkdirSync(lock, { mode: 0o700 }); break } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      try { if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) rmdirSync(lock) } catch { /* gone meanwhile */ }
      Atomics.wait(nap, 0, 0, RETRY_MS)
    }
  }
  try { return fn(join(dir, `${name}.json`)) } finally { rmdirSync(lock) }
}

function readState(path: string): State | null {
  try { return JSON.parse(readFileSync(path, 'utf8')) as State } catch { return null }
}

/** Keeps the sysctl at `path` at least `atLeast` until teardown; the last holder restores it. */
export function holdSysctlAtLeast(t: TeardownHost, path: string, atLeast: number): void {
  const name = basename(path)
  locked(name, statePath => {
    const current = readFileSync(path, 'utf8').trim()
    const st = readState(statePath) ?? { saved: current, holders: [] }
    st.holders = st.holders.filter(alive)
    if (st.holders.length === 0) st.saved = current
    if (Number(current) < atLeast) writeFileSync(path, String(atLeast))
    st.holders.push(process.pid)
    writeFileSync(statePath, JSON.stringify(st), { mode: 0o600 })
  })
  t.teardown(() => locked(name, statePath => {
    const st = readState(statePath)
    if (!st) return
    st.holders.splice(st.holders.indexOf(process.pid) >>> 0, 1)
    st.holders = st.holders.filter(alive)
    if (st.holders.length > 0) { writeFileSync(statePath, JSON.stringify(st), { mode: 0o600 }); return }
    writeFileSync(path, st.saved)
    rmSync(statePath, { force: true })
  }))
}
