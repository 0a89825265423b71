// RestoredTree: what fail-stop may signal. Real processes stand in for a restored tree; the pidfd
// a restored task's uffd comes with (SCM_PIDFD) is played by pidfd_open of the tree's root.
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { pidfdOpen } from '@criu-pipes/sys'
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
  rt.adopt(root.pid!, pidfdOpen(root.pid!))
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
  rt.adopt(other.pid! + 1, pidfdOpen(other.pid!))
  rt.adopt(7, null)
  const r = rt.kill()
  t.equal(r.killed, 0)
  t.same(r.unproven, [
    `task ${other.pid! + 1} (its uffd was sent by pid ${other.pid})`,
    'task 7 (its uffd came without SCM_PIDFD: Linux < 6.5)',
  ])
  t.ok(alive(other.pid!), 'left alone')
  rt.close()
})
