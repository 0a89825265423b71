// The bench's scratch space: a directory under the system tmpdir (on disk: logs, workload cwd)
// with a private tmpfs mounted in it (images, shards: "dump to tmpfs" must be RAM, not disk).
// Both go away at exit, failure and interrupt included. A bench killed with SIGKILL cannot clean
// up; the next run unmounts and removes what such a dead run left behind.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { atExit } from './cleanup.js'

const PREFIX = 'criu-pipes-bench-run-'
/** marks a scratch directory kept with --keep, so a later run leaves it alone */
const KEPT = 'KEPT'

export interface WorkDir {
  /** on disk */
  root: string
  /** a tmpfs */
  ram: string
  /** how `ram` came about, for the report */
  ramNote: string
  /** a fresh directory under root (or under ram) */
  sub(name: string, onRam?: boolean): string
}

function mountPoints(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM' }
}

function unmount(dir: string): void {
  if (!mountPoints().includes(dir)) return
  if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]) // busy: detach lazily
}

/** Unmounts and removes work dirs of earlier bench runs whose process is gone. */
export function removeStale(): string[] {
  const removed: string[] = []
  const candidates = [tmpdir(), '/dev/shm'].flatMap((base) => {
    try { return readdirSync(base).map((n) => join(base, n)) } catch { return [] }
  })
  for (const dir of candidates) {
    const m = new RegExp(`/${PREFIX}(\\d+)-[^/]*$`).exec(dir)
    if (!m || pidAlive(Number(m[1]))) continue
    for (const mp of mountPoints().filter((p) => p.startsWith(`${dir}/`))) unmount(mp)
    if (existsSync(join(dir, KEPT))) continue // --keep: the user wants it
    rmSync(dir, { recursive: true, force: true })
    removed.push(dir)
  }
  return removed
}

function isTmpfs(dir: string): boolean {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => {
    const f = l.split(' ')
    return f[1] === dir && f[2] === 'tmpfs'
  })
}

/**
 * Scratch space with a private tmpfs (mounted with most of RAM as its limit). Where mounting is not
 * allowed (not root: the real-CRIU benchmarks skip anyway), a directory in /dev/shm stands in.
 */
export function createWorkDir(opts: { keep?: boolean } = {}): WorkDir {
  const root = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`))
  let ram = join(root, 'ram')
  mkdirSync(ram)
  const size = Math.floor((totalmem() * 0.75) / 1048576)
  let mounted = false
  let ramNote = `tmpfs mounted on ${ram}`
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}m,mode=0700`, 'criu-pipes-bench', ram], { encoding: 'utf8' })
  if (r.status === 0) {
    mounted = true
  } else {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim()
    if (!isTmpfs('/dev/shm')) {
      rmSync(root, { recursive: true, force: true })
      throw new Error(`mount -t tmpfs failed (${why}) and /dev/shm is not a tmpfs: no RAM-backed directory for images`)
    }
    ram = mkdtempSync(join('/dev/shm', `${PREFIX}${process.pid}-`))
    ramNote = `${ram} (mount -t tmpfs failed: ${why})`
  }
  atExit(() => {
    if (mounted) unmount(ram)
    else rmSync(ram, { recursive: true, force: true })
    if (opts.keep) {
      writeFileSync(join(root, KEPT), '')
      process.stderr.write(`bench: kept ${root}${mounted ? ' (its tmpfs is unmounted)' : ''}\n`)
    } else {
      rmSync(root, { recursive: true, force: true })
    }
  })
  let n = 0
  return {
    root,
    ram,
    ramNote,
    sub(name: string, onRam = false) {
      const d = join(onRam ? ram : root, `${String(++n).padStart(3, '0')}-${name}`)
      mkdirSync(d, { recursive: true })
      return d
    },
  }
}
