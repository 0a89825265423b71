// ServerSocket: a live socket refused, a stale one replaced, probes never taken for a client,
// the file removed when we are done (and not when it is no longer ours).
import t, { type Test } from 'tap'
import { renameSync, statSync, existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ServerSocket, claimSocketName, close, connectUnixAt, listenUnix, openPrivateDir, probeUnixAt } from '../src/index.js'

function dirOf(t: Test): { path: string; fd: number } {
  const path = t.testdir()
  const fd = openPrivateDir(path)
  t.teardown(() => close(fd))
  return { path, fd }
}

t.test('stale replaced, live refused, anything else refused, file removed on close', async t => {
  const d = dirOf(t)
  t.equal(probeUnixAt(d.fd, 's.sock'), 'absent')
  close(listenUnix(join(d.path, 's.sock'))) // a server that died: its file stays
  t.equal(probeUnixAt(d.fd, 's.sock'), 'stale')
  const s = ServerSocket.listen(d.fd, 's.sock', d.path)
  t.equal(statSync(join(d.path, 's.sock')).mode & 0o777, 0o600, 'mode 0600')
  t.equal(probeUnixAt(d.fd, 's.sock'), 'live')
  t.throws(() => ServerSocket.listen(d.fd, 's.sock', d.path), { message: `${d.path}/s.sock is in use: another server is listening on it (stop it, or use another directory)` })
  t.throws(() => claimSocketName(d.fd, 's.sock', d.path), /is in use/)
  t.equal(s.accept(), null, 'the probes were dropped, not taken for clients')
  s.close()
  t.notOk(existsSync(join(d.path, 's.sock')), 'removed')
  writeFileSync(join(d.path, 'file.sock'), '')
  t.throws(() => ServerSocket.listen(d.fd, 'file.sock', d.path), /file.sock exists and is not a socket: refusing to replace it/)
})

t.test('a real client is accepted; a file that is no longer ours is left alone', async t => {
  const d = dirOf(t)
  const s = ServerSocket.listen(d.fd, 'a.sock', d.path)
  probeUnixAt(d.fd, 'a.sock')
  const c = connectUnixAt(d.fd, 'a.sock')
  const conn = await s.acceptAsync()
  t.ok(conn >= 0, 'the client, not the probe before it')
  close(conn); close(c)
  renameSync(join(d.path, 'a.sock'), join(d.path, 'aside.sock'))
  close(listenUnix(join(d.path, 'a.sock')))
  const ino = statSync(join(d.path, 'a.sock')).ino
  s.close()
  t.equal(statSync(join(d.path, 'a.sock')).ino, ino, 'another socket at our name is not removed')
})

t.test('acceptAsync with a timeout gives up with one line when nobody connects, and leaves no file', async t => {
  const d = dirOf(t)
  const s = ServerSocket.listen(d.fd, 't.sock', d.path)
  probeUnixAt(d.fd, 't.sock') // a probe is not a client: it does not stop the clock
  await t.rejects(s.acceptAsync(200), { name: 'AcceptTimeoutError', message: `nobody connected to ${d.path}/t.sock within 0.2 s: giving up` })
  s.close()
  t.notOk(existsSync(join(d.path, 't.sock')), 'removed')
  const s2 = ServerSocket.listen(d.fd, 'u.sock', d.path)
  const c = connectUnixAt(d.fd, 'u.sock')
  const conn = await s2.acceptAsync(60_000)
  t.ok(conn >= 0, 'a client within the time is accepted')
  close(conn); close(c); s2.close()
})
