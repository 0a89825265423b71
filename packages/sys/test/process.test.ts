import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { pidfdOpen, pidfdPids, pidfdSignal, peekExit, poll, close, POLLIN } from '../src/index.js'

function waitExit(pid: number): void {
  const pidfd = pidfdOpen(pid)
  poll([{ fd: pidfd, events: POLLIN }])
  close(pidfd)
}

t.test('peekExit: null while running, the code after exit, and Node still reaps it', async t => {
  const child = spawn('sh', ['-c', 'read x; exit 3'], { stdio: ['pipe', 'ignore', 'ignore'] })
  t.equal(peekExit(child.pid!), null, 'running')
  child.stdin.end('go\n')
  const exited = once(child, 'exit')
  waitExit(child.pid!)
  t.same(peekExit(child.pid!), { code: 3, signal: null })
  t.same(peekExit(child.pid!), { code: 3, signal: null }, 'not reaped: asked again, same answer')
  const [code] = await exited
  t.equal(code, 3, 'Node got the status too')
})

t.test('peekExit: a killed child names its signal', async t => {
  const child = spawn('sleep', ['100'], { stdio: 'ignore' })
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  waitExit(child.pid!)
  t.same(peekExit(child.pid!), { code: null, signal: 'SIGKILL' })
  await exited
})

t.test('pidfdSignal reaches exactly its process; pidfdPids reads its pids, null once it is gone', async t => {
  const child = spawn('sleep', ['100'], { stdio: 'ignore' })
  const pidfd = pidfdOpen(child.pid!)
  t.teardown(() => close(pidfd))
  t.same(pidfdPids(pidfd)?.[0], child.pid, 'our pid for it first')
  const exited = once(child, 'exit')
  t.equal(pidfdSignal(pidfd, 'SIGKILL'), true)
  const [, signal] = await exited
  t.equal(signal, 'SIGKILL')
  t.equal(pidfdPids(pidfd), null, 'reaped: gone')
  t.equal(pidfdSignal(pidfd, 'SIGKILL'), false, 'ESRCH: nothing else gets the signal')
})
