// A real TCP server through every streaming path: memhog in tcp mode listens on 127.0.0.1 and
// keeps a connection from this test process open across the checkpoint (--tcp-established).
// After the restore the same connection goes on counting where it was, the listening socket
// accepts again (or on the port --tcp-listen-remap gave it), and memory is intact.
// CRIU 4.1.1 cannot dump a listening TCP socket on kernel 6.18 (`Can't get 1:16 opt`), so the
// test needs CRIU >= 4.2 (scripts/install-criu.sh installs 4.3).
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  freePort, listeningPort, needCriuAtLeast, runCriu, startRestore, startWorkload, tcpClient as client, tcpGoesOn, tmpDir,
  waitFor, workloadFromPid,
} from '../lib/index.js'
import { bin, startShell } from '../lib/bins.js'

const MIB = 32
const NPAGES = (MIB << 20) / 4096
const OK = `verified ${NPAGES} ok`
/** 4.1.1 cannot dump a listening TCP socket on kernel 6.18. */
const needTcpCriu = (t: Test) => needCriuAtLeast(t, '4.2', 'cannot dump a listening TCP socket on this kernel')

const waitSocket = (path: string) => waitFor(`socket ${path}`, () => (existsSync(path) ? true : undefined))

async function tcpWorkload(t: Test, dir: string, port = 0) {
  const w = await startWorkload({ mib: MIB, dir, tcp: port })
  t.teardown(() => w.kill())
  await w.waitReady()
  return { w, port: listeningPort(w) }
}

t.test('listening and established sockets: dump --tcp-established through img-split (2 shard files), criu restore --stream from img-buffer', async t => {
  if (!(await needTcpCriu(t))) return
  const dir = tmpDir(t)
  const dumpDir = join(dir, 'dump'), srvDir = join(dir, 'serve')
  mkdirSync(dumpDir); mkdirSync(srvDir)
  const { w, port } = await tcpWorkload(t, dir)
  const c = await client(port)
  t.teardown(() => c.sock.destroy())
  t.equal(await c.ask(), `pong 1 ${NPAGES}`, 'served before the dump')
  const cap = await startShell(`${bin('img-split')} -D ${dumpDir} -s 3,4 3>${dir}/s0 4>${dir}/s1 2>${dir}/split.err`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  await runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream', '--tcp-established'])
  await w.exited
  t.equal((await cap.done).exitCode, 0, readFileSync(join(dir, 'split.err'), 'utf8'))
  const srv = await startShell(`${bin('img-buffer')} -D ${srvDir} -s 3,4 3<${dir}/s0 4<${dir}/s1 2>${dir}/serve.err`)
  await waitSocket(join(srvDir, 'streamer-serve.sock'))
  const r = await startRestore(['-D', srvDir, '--stream', '--tcp-established'])
  t.teardown(() => r.kill())
  const rw = workloadFromPid(r.pid, w.logPath)
  await tcpGoesOn(t, c, port, NPAGES, 1)
  t.equal(await rw.verify(), OK, 'memory intact after restore')
  await r.kill()
  t.equal((await srv.done).exitCode, 0, readFileSync(join(dir, 'serve.err'), 'utf8'))
})

t.test('criu-image-streamer serve --tcp-listen-remap: the restored server listens on the new port, not the old', async t => {
  if (!(await needTcpCriu(t))) return
  const dir = tmpDir(t)
  const dumpDir = join(dir, 'dump'), srvDir = join(dir, 'serve')
  mkdirSync(dumpDir); mkdirSync(srvDir)
  const { w, port } = await tcpWorkload(t, dir)
  const cap = await startShell(`${bin('criu-image-streamer')} -D ${dumpDir} capture > ${dir}/img 2>${dir}/capture.err`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  await runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream'])
  await w.exited
  t.equal((await cap.done).exitCode, 0, readFileSync(join(dir, 'capture.err'), 'utf8'))
  const moved = await freePort()
  const srv = await startShell(
    `${bin('criu-image-streamer')} -D ${srvDir} --tcp-listen-remap ${port}:${moved} serve < ${dir}/img 2>${dir}/serve.err`)
  await waitSocket(join(srvDir, 'streamer-serve.sock'))
  const r = await startRestore(['-D', srvDir, '--stream'])
  t.teardown(() => r.kill())
  const rw = workloadFromPid(r.pid, w.logPath)
  const c = await client(moved)
  t.teardown(() => c.sock.destroy())
  t.equal(await c.ask(), `pong 1 ${NPAGES}`, `the restored server answers on ${moved}`)
  await t.rejects(client(port), { code: 'ECONNREFUSED' }, `and nothing listens on ${port} any more`)
  t.equal(await rw.verify(), OK, 'memory intact after restore')
  await r.kill()
  t.equal((await srv.done).exitCode, 0, readFileSync(join(dir, 'serve.err'), 'utf8'))
})
