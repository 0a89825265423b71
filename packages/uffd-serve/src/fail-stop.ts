// Fail-stop: when the page source is lost while restored processes still miss pages, the only
// alternative to killing them is what CRIU does: close their userfaultfds, after which the kernel
// answers every later fault there with a zero page, and the processes run on with memory that is
// silently wrong. So by default the restored tree is SIGKILLed first (--on-source-loss=kill);
// --on-source-loss=zero keeps CRIU's behaviour.
//
// Only processes proven to be this restore's are signalled, and only through pidfds, never by pid
// number (another process, in another pid namespace, may have the same pid and uffd memory too):
// - a restored task: CRIU's setup_uffd runs IN that task (criu/cr-restore.c
//   restore_one_alive_task), opens its uffd there and sends it on lazy-pages.socket, which passes
//   the sender (listen.ts). With SCM_PIDFD the kernel hands us, with the uffd, a pidfd of the
//   process that sent it. Without (Linux < 6.5) SCM_CREDENTIALS gives its pid only: the pidfd is
//   opened then, and counts only if that process still holds the very uffd we got (kcmp), until
//   its restorer closes it, and is alive after the check (so the pid was still its own). Either
//   way it must be the pid CRIU announces, in its innermost pid namespace.
// - its descendants (children forked during the lazy phase, whose uffds came with FORK events,
//   and any later): a child listed in /proc of a proven process, pidfd opened, then checked to
//   still be that process's child while both pidfds show them alive (so the pid numbers read
//   were theirs). Each is SIGSTOPped before its own children are listed, so the tree stops
//   growing while it is collected; then all are SIGKILLed.
// A process that cannot be proven is never signalled; the error line names it.
import { readFileSync, readdirSync } from 'node:fs'
import { closeQuietly, holdsFile, pidfdOpen, pidfdPids, pidfdSignal } from '@criu-pipes/sys'
import type { Sender } from './handshake.js'

interface Proven {
  /** Our pid for it, read from its pidfd when collected. */
  pid: number
  pidfd: number
}

export interface KillResult {
  /** Processes SIGKILLed. */
  killed: number
  /** What was left alone because it could not be proven ours, one phrase each. */
  unproven: string[]
}

/** The processes of this restore, as CRIU hands them over (see above). */
export class RestoredTree {
  /** The senders' pidfds, one per restored task that was alive to send its uffd. */
  private readonly senders: { pid: number; pidfd: number }[] = []
  private readonly unproven: string[] = []

  /**
   * Task `pid` (its pid in the images) sent `uffd`; `sender` is what the socket said about who
   * sent it. Takes ownership of the sender's pidfd; `uffd` stays the caller's.
   */
  adopt(pid: number, uffd: number, sender: Sender): void {
    const pidfd = sender.pidfd ?? this.holderOf(pid, uffd, sender.pid)
    if (pidfd === null) return
    const pids = pidfdPids(pidfd)
    if (pids !== null && pids[pids.length - 1] !== pid) {
      closeQuietly(pidfd)
      this.unproven.push(`task ${pid} (its uffd was sent by pid ${pids.join('/')})`)
      return
    }
    // An exited sender stays on the list: signalling it is a no-op.
    this.senders.push({ pid, pidfd })
  }

  /** Without SCM_PIDFD: a pidfd of `senderPid` if it provably holds `uffd` (see above). */
  private holderOf(pid: number, uffd: number, senderPid: number | null): number | null {
    if (senderPid === null) {
      this.unproven.push(`task ${pid} (its uffd came with no sender)`)
      return null
    }
    let pidfd: number
    try {
      pidfd = pidfdOpen(senderPid)
    } catch {
      this.unproven.push(`task ${pid} (pid ${senderPid} sent its uffd and has exited)`)
      return null
    }
    if (holdsFile(senderPid, uffd) && pidfdPids(pidfd) !== null) return pidfd
    closeQuietly(pidfd)
    this.unproven.push(`task ${pid} (pid ${senderPid} sent its uffd, and had closed it when checked: ` +
      'without SCM_PIDFD, Linux < 6.5, no proof)')
    return null
  }

  /** SIGKILLs every process proven to be of this restore (see above). */
  kill(): KillResult {
    const victims = new Map<number, Proven>()
    const opened: number[] = []
    const unproven = [...this.unproven]
    const queue: Proven[] = []
    const take = (p: Proven): void => {
      if (victims.has(p.pid) || !pidfdSignal(p.pidfd, 'SIGSTOP')) return
      victims.set(p.pid, p)
      queue.push(p)
    }
    try {
      for (const s of this.senders) {
        const pids = pidfdPids(s.pidfd)
        if (pids !== null) take({ pid: pids[0]!, pidfd: s.pidfd })
      }
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
        for (const child of childrenOf(p.pid)) {
          if (victims.has(child)) continue
          const c = provenChild(p, child)
          if (c === 'gone') continue
          if (c === 'unproven') { unproven.push(`pid ${child} (listed as a child of ${p.pid}, but not one when checked)`); continue }
          opened.push(c.pidfd)
          take(c)
        }
      }
      let killed = 0
      for (const v of victims.values()) if (pidfdSignal(v.pidfd, 'SIGKILL')) killed++
      return { killed, unproven }
    } finally {
      for (const fd of opened) closeQuietly(fd)
    }
  }

  close(): void {
    for (const s of this.senders) closeQuietly(s.pidfd)
    this.senders.length = 0
  }
}

/** Pids listed as children of `pid`, over all its threads (each lists the ones it forked). */
function childrenOf(pid: number): number[] {
  const out: number[] = []
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return out // exited meanwhile
  }
  for (const tid of tids) {
    try {
      out.push(...readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number))
    } catch { /* the thread exited */ }
  }
  return out
}

/**
 * A pidfd for `child` if it is, provably, a child of `parent`: opened first, then its parent read
 * from /proc; both still alive afterwards means both numbers still named the same processes.
 */
function provenChild(parent: Proven, child: number): Proven | 'gone' | 'unproven' {
  let pidfd: number
  try {
    pidfd = pidfdOpen(child)
  } catch {
    return 'gone'
  }
  let ppid: number
  try {
    ppid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${child}/status`, 'utf8'))?.[1])
  } catch {
    ppid = -1
  }
  const alive = pidfdPids(pidfd)?.[0] === child
  if (alive && ppid === parent.pid && pidfdPids(parent.pidfd)?.[0] === parent.pid) return { pid: child, pidfd }
  closeQuietly(pidfd)
  return alive ? 'unproven' : 'gone'
}

export type SourceLossPolicy = 'kill' | 'zero'
export const SOURCE_LOSS_POLICIES: readonly SourceLossPolicy[] = ['kill', 'zero']
