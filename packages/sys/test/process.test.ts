import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { pidfdOpen, peekExit, poll, close, POLLIN } from '../src/index.js'

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
