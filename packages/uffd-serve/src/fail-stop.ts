// Fail-stop: when the page source is lost while restored processes still miss pages, the only
// alternative to killing them is what CRIU does: close their userfaultfds, after which the kernel
// answers every later fault there with a zero page, and the processes run on with memory that is
// silently wrong. So by default the restored tree is SIGKILLed first (--on-source-loss=kill);
// --on-source-loss=zero keeps CRIU's behaviour.
//
// The daemon knows its processes only by the pids in the images (virtual pids, often in a pid
// namespace of their own), so the host processes are found in /proc: a process whose innermost
// pid is one that still owes pages AND that has userfaultfd-registered memory (VmFlags "um" in
// smaps: the restorer registered its lazy VMAs, and only our uffds keep that alive). Around these
// anchors, the tree is every process of the same pid namespace whose pid is in pstree.img, and
// every descendant of those (children forked during the lazy phase are in no image).
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'

interface ProcInfo {
  pid: number
  ppid: number
  /** The pid in the innermost pid namespace (the last NSpid column). */
  nsPid: number
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1])
    const ns = /^NSpid:\s+([\d\s]+)$/m.exec(status)?.[1]?.trim().split(/\s+/).map(Number)
    return { pid, ppid, nsPid: ns?.[ns.length - 1] ?? pid }
  } catch {
    return undefined // gone meanwhile
  }
}

function hasUffdMemory(pid: number): boolean {
  try {
    return /^VmFlags:.*\bum\b/m.test(readFileSync(`/proc/${pid}/smaps`, 'utf8'))
  } catch {
    return false
  }
}

function pidNs(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`)
  } catch {
    return undefined
  }
}

/** Host pids of the restored tree (see above); empty when none of it can be found. */
export function findRestoredTree(owedPids: readonly number[], treePids: readonly number[]): number[] {
  const procs: ProcInfo[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    const p = readProc(Number(name))
    if (p !== undefined) procs.push(p)
  }
  const owed = new Set(owedPids)
  const anchors = procs.filter((p) => owed.has(p.nsPid) && hasUffdMemory(p.pid))
  const namespaces = new Set(anchors.map((p) => pidNs(p.pid)).filter((n) => n !== undefined))
  const inTree = new Set(treePids)
  const victims = new Set(anchors.map((p) => p.pid))
  for (const p of procs) if (inTree.has(p.nsPid) && namespaces.has(pidNs(p.pid) ?? '')) victims.add(p.pid)
  // Descendants, to a fixed point (a parent may come after its child in /proc order).
  for (let grew = true; grew;) {
    grew = false
    for (const p of procs) {
      if (!victims.has(p.pid) && victims.has(p.ppid)) { victims.add(p.pid); grew = true }
    }
  }
  return [...victims].sort((a, b) => a - b)
}

/** SIGKILLs the restored tree; returns the host pids signalled. */
export function killRestoredTree(owedPids: readonly number[], treePids: readonly number[]): number[] {
  const victims = findRestoredTree(owedPids, treePids)
  for (const pid of victims) {
    try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
  }
  return victims
}

export type SourceLossPolicy = 'kill' | 'zero'
export const SOURCE_LOSS_POLICIES: readonly SourceLossPolicy[] = ['kill', 'zero']
