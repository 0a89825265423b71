// RestoredTree: what fail-stop may signal. Real processes stand in for a restored tree; the pidfd
// a restored task's uffd comes with (SCM_PIDFD) is played by pidfd_open of the tree's root, the
// uffd a sender without SCM_PIDFD must still hold by a pipe it inherited.
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { close, makePipe, pidfdOpen } from '@criu-pipes/sys'
import { RestoredTree } from '../src/fail-stop.js'

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number)
  } catch {
    return []
  }
}

function descendants(pid: number): number[] {
  return childrenOf(pid).flatMap((c) => [c, ...descendants(c)])
}

const alive = (pid: number): boolean => {
  try {
    return !/^State:\s+[ZX]/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10))
  if (!ok()) throw new Error(`timed out waiting for ${what}`)
}

function sleeper(t: { teardown: (f: () => void) => void }): ReturnType<typeof spawn> {
  const p = spawn('sleep', ['100'], { stdio: 'ignore' })
  t.teardown(() => p.kill('SIGKILL'))
  return p
}

t.test('kills the sender and every descendant, through pidfds; a bystander lives', async (t) => {
  // sh -> sleep, sh -> subshell -> sleep: descendants two deep.
  const root = spawn('sh', ['-c', 'sleep 100 & (sleep 100; true) & wait'], { stdio: 'ignore' })
  t.teardown(() => root.kill('SIGKILL'))
  const bystander = sleeper(t)
  await until('the tree', () => descendants(root.pid!).length === 3)
  const tree = descendants(root.pid!)
  const rt = new RestoredTree()
  rt.adopt(root.pid!, -1, { pidfd: pidfdOpen(root.pid!), pid: null })
  const exited = once(root, 'exit')
  t.same(rt.kill(), { killed: 4, unproven: [] }, 'the root and its three descendants')
  t.same((await exited)[1], 'SIGKILL')
  await until('the descendants to go', () => tree.every((p) => !alive(p)))
  t.ok(alive(bystander.pid!), 'the bystander runs on')
  rt.close()
})

t.test('a uffd sent by another pid than CRIU announced, or without a pidfd: never signalled, named', async (t) => {
  const other = sleeper(t)
  const rt = new RestoredTree()
  rt.adopt(other.pid! + 1, -1, { pidfd: pidfdOpen(other.pid!), pid: null })
  rt.adopt(7, -1, { pidfd: null, pid: null })
  const r = rt.kill()
  t.equal(r.killed, 0)
  t.same(r.unproven, [
    `task ${other.pid! + 1} (its uffd was sent by pid ${other.pid})`,
    'task 7 (its uffd came with no sender)',
  ])
  t.ok(alive(other.pid!), 'left alone')
  rt.close()
})

t.test('without SCM_PIDFD: the sender by pid counts only while it holds the very file it sent', async (t) => {
  const [r, w] = makePipe()
  t.teardown(() => { close(r); close(w) })
  const holder = spawn('sleep', ['100'], { stdio: ['ignore', 'ignore', 'ignore', r] }) // its fd 3 is our r
  t.teardown(() => holder.kill('SIGKILL'))
  const other = sleeper(t)
  await until('both to run', () => [holder, other].every((p) => readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').startsWith('sleep')))
  const rt = new RestoredTree()
  rt.adopt(holder.pid!, r, { pidfd: null, pid: holder.pid! })
  rt.adopt(other.pid!, r, { pidfd: null, pid: other.pid! })
  const exited = once(holder, 'exit')
  t.same(rt.kill(), { killed: 1, unproven: [
    `task ${other.pid} (pid ${other.pid} sent its uffd, and had closed it when checked: without SCM_PIDFD, Linux < 6.5, no proof)`,
  ] })
  t.same((await exited)[1], 'SIGKILL', 'the holder')
  t.ok(alive(other.pid!), 'the other left alone')
  rt.close()
})
