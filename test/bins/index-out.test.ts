// img-split --index-out against the trust model (issue 14, item 5): the index's directory is one
// another user could swap for a symlink into a root-only directory, and a failed capture then
// removed whatever sat at the path there; SIGTERM while waiting for CRIU left an empty index
// behind, which the retry refused ("it exists"). CRIU is played by the simulator.
import t from 'tap'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execSync } from 'node:child_process'
import { DumpClient } from '@criu-pipes/streamer'
import { readIndex } from '@criu-pipes/framing'
import { tmpDir } from '../lib/tmp-dir.js'
import { bin, startShell } from '../lib/bins.js'
import { testUser } from '../lib/test-user.js'
import { waitFor } from '../lib/wait.js'

const image = (): Record<string, Buffer> => ({
  'core-1.img': Buffer.alloc(900, 3),
  'pagemap-1.img': Buffer.alloc(2000, 1),
  'pages-1.img': Buffer.alloc(64 * 4096, 2),
  'inventory.img': Buffer.alloc(40, 4),
})

function dump(dir: string): void {
  const c = new DumpClient(dir)
  for (const [name, data] of Object.entries(image())) c.file(name, data)
  c.finish()
}

const progressHas = (file: string, line: string) => () => (existsSync(file) && readFileSync(file, 'utf8').split('\n').includes(line)) || undefined

t.test('an index directory another user controls is refused before anything is created; a failed capture removes only its own index', async t => {
  const user = testUser(t)
  const theirs = `/tmp/${user.name}-ix`
  t.teardown(() => execSync(`rm -rf ${theirs}`))
  t.equal(user.run(`mkdir -p ${theirs}/sub && chmod 755 ${theirs} && chmod 777 ${theirs}/sub`), 0, 'the user makes the directories')
  const dir = tmpDir(t)
  const secret = join(dir, 'secret')
  mkdirSync(secret, { mode: 0o700 })
  writeFileSync(join(secret, 'x.idx'), 'root only')
  // The capture fails after CRIU connected (the shard consumer dies); meanwhile the user swaps
  // the directory for a symlink into root's.
  const a = await startShell(`${bin('img-split')} -D ${dir}/ck --index-out ${theirs}/sub/x.idx -p 3 3>${dir}/pa | head -c 1000 > /dev/null`)
  let exited = false
  void a.done.then(() => { exited = true })
  const started = await waitFor('socket-init or exit', () => progressHas(join(dir, 'pa'), 'socket-init')() ?? (exited ? false : undefined))
  if (started) {
    t.equal(user.run(`mv ${theirs}/sub ${theirs}/old && ln -s ${secret} ${theirs}/sub`), 0, 'the user swaps the directory')
    try { dump(join(dir, 'ck')) } catch { /* the capture is gone */ }
  }
  const r = await a.done
  t.not(r.exitCode, 0, 'the capture fails')
  t.match(r.stderr, new RegExp(`^img-split: index ${theirs}/sub/x.idx: (${theirs}/sub: )?${theirs}(/sub)? (above it )?belongs to uid ${user.uid}`), 'refused, one line, naming the directory')
  t.equal(readFileSync(join(secret, 'x.idx'), 'utf8'), 'root only', "root's file is untouched")
  t.notOk(existsSync(`${theirs}/sub/x.idx`), 'nothing created in their directory')

  // Our own directory: the index of a failed capture is removed.
  const b = await startShell(`${bin('img-split')} -D ${dir}/ck2 --index-out ${dir}/y.idx -p 3 3>${dir}/pb | head -c 1000 > /dev/null`)
  await waitFor('socket-init', progressHas(join(dir, 'pb'), 'socket-init'))
  t.notOk(existsSync(join(dir, 'y.idx')), 'nothing is under the name before the index is complete')
  try { dump(join(dir, 'ck2')) } catch { /* the capture is gone */ }
  t.not((await b.done).exitCode, 0)
  t.notOk(existsSync(join(dir, 'y.idx')), 'a failed capture leaves no index')
})

t.test('SIGTERM, SIGINT, SIGHUP and even SIGKILL while waiting for CRIU leave no index behind; the retry succeeds', async t => {
  const dir = tmpDir(t)
  const idx = join(dir, 'x.idx')
  for (const [sig, code] of [['TERM', 143], ['INT', 130], ['HUP', 129]] as const) {
    const p = join(dir, `p${sig}`)
    const s = await startShell(`exec ${bin('img-split')} -D ${dir}/ck --index-out ${idx} -p 3 3>${p} > /dev/null`)
    await waitFor('socket-init', progressHas(p, 'socket-init'))
    process.kill(s.pid, `SIG${sig}`)
    t.equal((await s.done).exitCode, code, `img-split exits ${code} on SIG${sig}`)
    t.notOk(existsSync(idx), `no index left on SIG${sig}`)
  }
  // SIGKILL: no handler runs at all, and still nothing is left under the name.
  {
    const p = join(dir, 'pKILL')
    const s = await startShell(`exec ${bin('img-split')} -D ${dir}/ck --index-out ${idx} -p 3 3>${p} > /dev/null`)
    await waitFor('socket-init', progressHas(p, 'socket-init'))
    process.kill(s.pid, 'SIGKILL')
    await s.done
    t.notOk(existsSync(idx), 'no index left on SIGKILL')
  }
  const s = await startShell(`${bin('img-split')} -D ${dir}/ck --index-out ${idx} -p 3 3>${dir}/pok > /dev/null`)
  await waitFor('socket-init', progressHas(join(dir, 'pok'), 'socket-init'))
  dump(join(dir, 'ck'))
  const r = await s.done
  t.equal(r.exitCode, 0, r.stderr)
  t.equal(readIndex(idx).count, 64, 'the retry writes the whole index')
})

t.test('a damaged --base-index is refused before the socket exists, before CRIU could freeze anything; an intact one is used', async t => {
  const dir = tmpDir(t)
  // Outside the test runner's NODE_PATH and loaders, as in use: --index-out once failed at its
  // end there (xxhash.ts), after the fstat of CRIU's pipes.
  const split = `env -u NODE_OPTIONS -u NODE_PATH ${bin('img-split')}`
  const a = await startShell(`${split} -D ${dir}/r1 --index-out ${dir}/r1.idx -s 3 -p 4 3>${dir}/r1.shard 4>${dir}/p1`)
  await waitFor('socket-init', progressHas(join(dir, 'p1'), 'socket-init'))
  dump(join(dir, 'r1'))
  const ra = await a.done
  t.equal(ra.exitCode, 0, ra.stderr)
  t.equal(readIndex(join(dir, 'r1.idx')).count, 64, 'round 1 wrote its index')

  const good = readFileSync(join(dir, 'r1.idx'))
  const bad = Buffer.from(good)
  bad[100]! ^= 1
  writeFileSync(join(dir, 'bad.idx'), bad, { mode: 0o600 })
  const b = await startShell(`${split} -D ${dir}/r2 --base-index ${dir}/bad.idx -s 3 -p 4 3>${dir}/r2.shard 4>${dir}/p2`)
  const rb = await b.done
  t.equal(rb.exitCode, 1)
  t.equal(rb.stderr, `img-split: index ${dir}/bad.idx: its checksum does not match: damaged or truncated`, 'one line')
  t.notOk(readFileSync(join(dir, 'p2'), 'utf8').includes('socket-init'), 'refused before the socket was announced')
  t.notOk(existsSync(join(dir, 'r2', 'streamer-capture.sock')), 'and no socket for CRIU to connect to')

  const c = await startShell(`${split} -D ${dir}/r3 --base-index ${dir}/r1.idx -s 3 -p 4 3>${dir}/r3.shard 4>${dir}/p3`)
  await waitFor('socket-init', progressHas(join(dir, 'p3'), 'socket-init'))
  dump(join(dir, 'r3'))
  const rc = await c.done
  t.equal(rc.exitCode, 0, rc.stderr)
  const stats = JSON.parse(readFileSync(join(dir, 'p3'), 'utf8').split('\n').find(l => l.startsWith('{'))!) as { content: { refPages: number } }
  t.equal(stats.content.refPages, 64, 'every page of the unchanged image is a reference')
})
