// -d on img-split and img-buffer: the command returns only once CRIU can connect (the next line
// of a script may start criu at once), the server goes on detached with its fds, its pid in
// --pidfile and its stderr in DIR/NAME.log; a failed start is one line and leaves nothing
// running; a server nobody connects to gives up after --connect-timeout with one line.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { DumpClient, RestoreClient } from '@criu-pipes/streamer'
import { tmpDir } from '../lib/tmp-dir.js'
import { pattern } from '../lib/pattern.js'
import { bin, startShell } from '../lib/bins.js'

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }
async function gone(pid: number): Promise<void> {
  while (alive(pid)) await new Promise(r => setTimeout(r, 20))
}

t.test('img-split -d and img-buffer -d return listening; the daemons finish the job', async t => {
  const d = tmpDir(t)
  const split = await (await startShell(`${bin('img-split')} -D ${d}/ck -d --pidfile ${d}/split.pid > ${d}/shard`)).done
  t.equal(split.exitCode, 0, split.stderr)
  t.equal(split.stderr, '', 'nothing on the starter\'s stderr')
  t.ok(existsSync(join(d, 'ck', 'streamer-capture.sock')), 'listening when -d returns')
  const pid = Number(readFileSync(join(d, 'split.pid'), 'utf8'))
  t.ok(alive(pid), 'the pid file names the running daemon')
  const inventory = pattern(40, 1), pages = pattern(3_000_000, 2)
  const dump = new DumpClient(join(d, 'ck'))
  dump.file('pages-1.img', pages)
  dump.file('inventory.img', inventory)
  dump.finish()
  await gone(pid)
  const log = readFileSync(join(d, 'ck', 'img-split.log'), 'utf8')
  t.match(log, /^socket-init\ncheckpoint-start\n\{"shards":/, 'progress lines in the daemon\'s log')

  const buffer = await (await startShell(`${bin('img-buffer')} -D ${d}/rs -d < ${d}/shard`)).done
  t.equal(buffer.exitCode, 0, buffer.stderr)
  t.ok(existsSync(join(d, 'rs', 'streamer-serve.sock')), 'listening when -d returns: the shard was read')
  const restore = new RestoreClient(join(d, 'rs'))
  t.same(restore.file('inventory.img'), inventory)
  t.same(restore.file('pages-1.img'), pages)
  restore.finish()
})

t.test('a failed start is one line, exit 1, and leaves no daemon and no pid file', async t => {
  const d = tmpDir(t)
  // Refused before anything starts: a directory every user may write to.
  const r1 = await (await startShell(`${bin('img-split')} -D /tmp -d --pidfile ${d}/p1`)).done
  t.equal(r1.exitCode, 1)
  t.equal(r1.stderr, 'img-split: /tmp is writable by every user (mode 1777): refusing to use it')
  t.notOk(existsSync(join(d, 'p1')))
  // Refused by the daemon itself (another server listens there): its error, read back from its log.
  const first = await (await startShell(`${bin('img-split')} -D ${d}/ck -d --pidfile ${d}/p0 > /dev/null`)).done
  t.equal(first.exitCode, 0, first.stderr)
  const r2 = await (await startShell(`${bin('img-split')} -D ${d}/ck -d --pidfile ${d}/p2 > /dev/null`)).done
  t.equal(r2.exitCode, 1)
  t.equal(r2.stderr, `img-split: the daemon did not start: ${d}/ck/img-split.sync.sock is in use: another server is listening on it (stop it, or use another directory)`)
  t.notOk(existsSync(join(d, 'p2')), 'the pid file is removed')
  process.kill(Number(readFileSync(join(d, 'p0'), 'utf8')), 'SIGTERM')
  const r3 = await (await startShell(`${bin('img-buffer')} -D ${d}/rs -d --pidfile ${d}/p3 < /dev/null`)).done
  t.equal(r3.exitCode, 1)
  t.equal(r3.stderr, 'img-buffer: the daemon did not start: truncated stream: every shard ended without image_eof')
  const r4 = await (await startShell(`${bin('img-buffer')} -D ${d}/rs --pidfile ${d}/p4 < /dev/null`)).done
  t.equal(r4.exitCode, 2)
  t.equal(r4.stderr, 'img-buffer: --pidfile is for -d (without it, the pid is the shell\'s $!)')
})

t.test('a server nobody connects to gives up after --connect-timeout with one line', async t => {
  const d = tmpDir(t)
  const s = await (await startShell(`${bin('img-split')} -D ${d}/ck --connect-timeout 0.5 > /dev/null`)).done
  t.equal(s.exitCode, 1)
  t.equal(s.stderr, `socket-init\nimg-split: nobody connected to ${d}/ck/streamer-capture.sock within 0.5 s: giving up`)
  t.notOk(existsSync(join(d, 'ck', 'streamer-capture.sock')), 'the socket is removed')
  const split = await (await startShell(`${bin('img-split')} -D ${d}/ck2 -d --pidfile ${d}/pid > ${d}/shard`)).done
  t.equal(split.exitCode, 0, split.stderr)
  const dump = new DumpClient(join(d, 'ck2'))
  dump.file('inventory.img', pattern(40, 1))
  dump.finish()
  await gone(Number(readFileSync(join(d, 'pid'), 'utf8')))
  const b = await (await startShell(`${bin('img-buffer')} -D ${d}/rs --connect-timeout 0.5 -p 1 < ${d}/shard`)).done
  t.equal(b.exitCode, 1)
  t.equal(b.stderr, `img-buffer: nobody connected to ${d}/rs/streamer-serve.sock within 0.5 s: giving up`)
  const bad = await (await startShell(`${bin('img-buffer')} -D ${d}/rs --connect-timeout -1 < /dev/null`)).done
  t.equal(bad.exitCode, 2)
  t.equal(bad.stderr, 'img-buffer: --connect-timeout: "-1" is not a number of seconds (0 waits forever)')
})
