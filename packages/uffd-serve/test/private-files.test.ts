// The log and the pid file are files root writes at a path the operator gave: nothing another
// user planted there (a FIFO, a file of theirs, a hard link) is opened for writing; a daemon (-d)
// without -o still leaves a log saying why it died; a pid file that cannot be written leaves no
// daemon behind.
import t from 'tap'
import type { Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, linkSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs'
import { constants } from 'node:fs'
import { join } from 'node:path'
import { LAYOUT, RestoreSim, alive, startDaemon, tmpDir, writeImages } from './fixtures/lazy-task.js'

const PID = 4242
/** A uid that is not ours (nobody). */
const OTHER_UID = 65534

async function refused(t: Test, args: string[]): Promise<string> {
  const d = startDaemon(args)
  const ready = await d.ready
  if (ready) d.child.kill()
  t.equal(ready, false, 'never ready')
  const { code, stderr } = await d.exit
  t.equal(code, 1, 'exit 1')
  return stderr
}

t.test('a FIFO planted at the log path is refused at once, with or without a reader', async (t) => {
  const dir = tmpDir(t)
  writeImages(dir, { pid: PID, base: 0x7f0000000000, ...LAYOUT })
  const log = join(dir, 'lazy-pages.log')
  execFileSync('mkfifo', [log])
  t.equal(await refused(t, ['-D', dir, '-o', 'lazy-pages.log']),
    `uffd-serve: log file ${log} is a FIFO, not a regular file: refused\n`, 'no reader: refused, not blocked in open')
  // The attacker holds it open for reading: open succeeds, fstat says FIFO.
  const rd = openSync(log, constants.O_RDONLY | constants.O_NONBLOCK)
  t.teardown(() => closeSync(rd))
  t.match(await refused(t, ['-D', dir, '-o', 'lazy-pages.log']),
    new RegExp(`^uffd-serve: log file ${log} is not a regular file \\(mode 10\\d+\\): refused\\n$`), 'a reader: refused')
  t.notOk(existsSync(join(dir, 'lazy-pages.socket')), 'nothing listens')
})

t.test('a log file of another user, or a hard link, is refused and left as it was', async (t) => {
  const dir = tmpDir(t)
  writeImages(dir, { pid: PID, base: 0x7f0000000000, ...LAYOUT })
  const theirs = join(dir, 'theirs.log')
  writeFileSync(theirs, 'theirs\n')
  chownSync(theirs, OTHER_UID, OTHER_UID)
  t.equal(await refused(t, ['-D', dir, '-o', 'theirs.log']),
    `uffd-serve: log file ${theirs} belongs to uid ${OTHER_UID}, not to uid 0: refused\n`)
  t.equal(readFileSync(theirs, 'utf8'), 'theirs\n', 'not truncated')
  const precious = join(dir, 'precious')
  writeFileSync(precious, 'precious\n')
  linkSync(precious, join(dir, 'linked.log'))
  t.equal(await refused(t, ['-D', dir, '-o', 'linked.log']),
    `uffd-serve: log file ${join(dir, 'linked.log')} has 2 hard links: refused\n`)
  t.equal(readFileSync(precious, 'utf8'), 'precious\n', 'the linked file keeps its contents')
})

t.test('an absolute log or pid file path: its directory passes the trust rule (sticky /tmp is fine)', async (t) => {
  const dir = tmpDir(t)
  writeImages(dir, { pid: PID, base: 0x7f0000000000, ...LAYOUT })
  const open = join(dir, 'open')
  mkdirSync(open)
  chmodSync(open, 0o777)
  t.equal(await refused(t, ['-D', dir, '-o', join(open, 'x.log')]),
    `uffd-serve: cannot open log file ${join(open, 'x.log')}: ${open} is writable by every user (mode 777): refusing to use it\n`)
  t.equal(await refused(t, ['-D', dir, '--pidfile', join(open, 'x.pid')]),
    `uffd-serve: cannot create pid file ${join(open, 'x.pid')}: ${open} is writable by every user (mode 777): refusing to use it\n`)
  chmodSync(open, 0o1777)
  const d = startDaemon(['-D', dir, '-o', join(open, 'x.log'), '--pidfile', join(open, 'x.pid')])
  t.equal(await d.ready, true, 'sticky: accepted')
  t.equal(readFileSync(join(open, 'x.pid'), 'utf8'), String(d.child.pid))
  new RestoreSim(dir).close()
  t.equal((await d.exit).code, 1)
  t.match(readFileSync(join(open, 'x.log'), 'utf8'), /Error \(uffd-serve\): criu restore closed lazy-pages.socket/)
  const dn = startDaemon(['-D', dir, '-o', '/dev/null'])
  t.equal(await dn.ready, true, '/dev/null, a character device: accepted')
  new RestoreSim(dir).close()
  t.equal((await dn.exit).code, 1)
})

t.test('-d without -o: the daemon logs to WORKDIR/uffd-serve.log, which tells why it died', async (t) => {
  const dir = tmpDir(t)
  writeImages(dir, { pid: PID, base: 0x7f0000000000, ...LAYOUT })
  const d = startDaemon(['-D', dir, '-d', '--pidfile', 'lazy.pid'])
  t.equal(await d.ready, true)
  t.equal((await d.exit).code, 0)
  const pid = Number(readFileSync(join(dir, 'lazy.pid'), 'utf8'))
  new RestoreSim(dir).close() // a restore that goes away before sending its tasks: fatal
  while (alive(pid)) await new Promise((r) => setTimeout(r, 25))
  t.match(readFileSync(join(dir, 'uffd-serve.log'), 'utf8'), /^\(\d\d\.\d{6}\) Error \(uffd-serve\): criu restore closed lazy-pages.socket/m)
})

t.test('-d: a pid file that cannot be written (full tmpfs) fails the start and kills the daemon', async (t) => {
  const dir = tmpDir(t)
  writeImages(dir, { pid: PID, base: 0x7f0000000000, ...LAYOUT })
  const full = join(dir, 'full')
  mkdirSync(full, { mode: 0o700 })
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4k,mode=0700', 'h10-full', full])
  t.teardown(() => { execFileSync('umount', [full]) })
  try { writeFileSync(join(full, 'fill'), Buffer.alloc(64 << 10)) } catch { /* ENOSPC: full now */ }
  const d = startDaemon(['-D', dir, '-d', '--pidfile', join(full, 'lazy.pid')])
  t.equal(await d.ready, false, 'never ready')
  const { code, stderr } = await d.exit
  t.equal(code, 1)
  const m = /^uffd-serve: cannot write pid file \S+: ENOSPC; the daemon \(pid (\d+)\) was killed\n$/.exec(stderr)
  t.ok(m, stderr)
  const pid = Number(m?.[1])
  for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25))
  t.notOk(alive(pid), 'no daemon stays behind')
  t.notOk(existsSync(join(full, 'lazy.pid')), 'the empty pid file is removed')
})
