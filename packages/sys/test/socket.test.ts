import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, statSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  listenUnix, acceptOne, connectUnix, connectUnixAt, openPrivateDir, sendFd, recvFd, makePipe, writeAll, readFull, close, bytesQueued, waitReadable,
  passSender, pidfdPids,
} from '../src/index.js'

t.test('UNIX socket 0600, fd passing with one byte, EOF', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'sys-sock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 's.sock')
  const l = listenUnix(path)
  t.equal(statSync(path).mode & 0o777, 0o600)
  const client = connectUnix(path)
  const server = acceptOne(l)
  const [r, w] = makePipe()
  writeAll(w, Buffer.from('abc'))
  writeAll(client, Buffer.from([1, 2, 3, 4]))
  sendFd(client, r)
  writeAll(client, Buffer.from([9]))
  close(r)
  const head = Buffer.alloc(4)
  t.equal(readFull(server, head), 4)
  t.same([...head], [1, 2, 3, 4])
  const got = recvFd(server)
  t.equal(got.byte, 0)
  t.type(got.fd, 'number')
  t.equal(bytesQueued(got.fd!), 3, 'received fd is the pipe')
  const tail = Buffer.alloc(1)
  t.equal(readFull(server, tail), 1, 'recvFd read no further than its byte')
  t.equal(tail[0], 9)
  close(client)
  waitReadable(server)
  t.same(recvFd(server), { fd: null, byte: null, sender: null, senderPid: null }, 'EOF')
  for (const fd of [got.fd!, w, server, l]) close(fd)
})

t.test('passSender on the listener: each fd comes with a pidfd of the process that SENT it, not the one that connected', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'sys-sock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const l = listenUnix(join(dir, 's.sock'))
  t.equal(passSender(l), 'pidfd', 'Linux >= 6.5')
  // As in a CRIU restore: we connect, a child that inherited the socket sends (the restored task).
  const client = connectUnix(join(dir, 's.sock'))
  const sys = new URL('../src/index.js', import.meta.url).href
  const child = spawn(process.execPath, ['--input-type=module', '-e', `import { sendFd } from '${sys}'; sendFd(3, 0); process.stdin.resume()`],
    { stdio: ['pipe', 'ignore', 'inherit', client] })
  const server = acceptOne(l)
  waitReadable(server)
  const got = recvFd(server)
  t.type(got.fd, 'number')
  t.type(got.sender, 'number')
  t.equal(pidfdPids(got.sender!)?.[0], child.pid, 'the sender is the child')
  const exited = once(child, 'exit')
  child.stdin!.end()
  await exited
  t.equal(pidfdPids(got.sender!), null, 'once it has exited, its pidfd says so (and names no other process)')
  close(client)
  waitReadable(server)
  t.same(recvFd(server), { fd: null, byte: null, sender: null, senderPid: null }, 'EOF')
  for (const fd of [got.fd!, got.sender!, server, l]) close(fd)
})

t.test('a socket path longer than sun_path: connect refuses it clearly, the dir-fd calls reach it', async t => {
  const deep = join(t.testdir(), 'd'.repeat(100))
  mkdirSync(deep)
  const l = listenUnix(join(deep, 's.sock'))
  t.throws(() => connectUnix(join(deep, 's.sock')), /socket path too long/)
  const dir = openPrivateDir(deep)
  const c = connectUnixAt(dir, 's.sock')
  for (const fd of [c, l, dir]) close(fd)
})
