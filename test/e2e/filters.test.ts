// Shard filters with real CRIU 4.1: an uploader that fails at the end (reads its whole shard,
// then exits 1) fails `criu dump` through img-split's post-dump hook, and the process keeps
// running intact; a downloader that fails on the read side makes img-buffer refuse the image,
// so no restore can start; with every filter exiting 0 the round trip restores the process.
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  needCriu, runCriu, startRestore, startWorkload, tmpDir, workloadFromPid, waitFor, CriuError,
} from '../lib/index.js'
import { bin, startShell } from '../lib/bins.js'

const MIB = 32
const OK = `verified ${(MIB << 20) / 4096} ok`
const HOOK = bin('img-split').replace(/^node /, '')
const waitSocket = (path: string) => waitFor(`socket ${path}`, () => (existsSync(path) ? true : undefined))

async function runningWorkload(t: Test, dir: string) {
  const w = await startWorkload({ mib: MIB, dir })
  t.teardown(() => w.kill())
  await w.waitReady()
  return w
}

/** img-split -n 2 with `filter`, run in `dir`, and criu dump with img-split as its action script. */
async function dumpThrough(dir: string, pid: number, filter: string) {
  const dumpDir = join(dir, 'dump')
  mkdirSync(dumpDir)
  const cap = await startShell(`cd ${dir} && ${bin('img-split')} -D ${dumpDir} -n 2 --filter '${filter}' -p 9 9>/dev/null`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  const dump = runCriu(['dump', '-t', String(pid), '-D', dumpDir, '--stream', '--action-script', HOOK])
  return { dump, cap: cap.done }
}

t.test('an uploader that exits 1 after reading its whole shard fails the dump; the process lives on', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const w = await runningWorkload(t, dir)
  const { dump, cap } = await dumpThrough(dir, w.pid, 'cat > up$SHARD; [ $SHARD = 0 ]')
  await t.rejects(dump, CriuError, 'criu dump fails')
  const c = await cap
  t.equal(c.exitCode, 1, 'img-split fails')
  t.match(c.stderr, /^img-split: shard 1 of 2: filter 'cat > up\$SHARD; \[ \$SHARD = 0 \]' exited with status 1$/m, 'naming the shard and the status')
  t.ok(readFileSync(join(dir, 'up1')).length > 1 << 20, 'the failing uploader had read its shard')
  t.ok(w.alive(), 'the workload was left running')
  t.equal(await w.verify(), OK, 'and is healthy')
  t.equal(await w.verify(), OK, 'and keeps running')
})

t.test('filters both ways: a failing downloader is refused before any restore; good ones restore', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const w = await runningWorkload(t, dir)
  const { dump, cap } = await dumpThrough(dir, w.pid, 'gzip -1 > s$SHARD.gz')
  await dump
  await w.exited
  t.equal((await cap).exitCode, 0, 'the capture succeeded once both filters exited 0')

  const bad = await (await startShell(`cd ${dir} && ${bin('img-buffer')} -D ${dir}/rs1 -n 2 --filter 'gzip -dc s$SHARD.gz; [ $SHARD = 1 ]'`)).done
  t.equal(bad.exitCode, 1, 'img-buffer refuses the image')
  t.match(bad.stderr, /^img-buffer: shard 0 of 2: filter '.*' exited with status 1$/m, 'naming the shard')
  t.notOk(existsSync(join(dir, 'rs1', 'streamer-serve.sock')), 'no socket: criu restore cannot start')
  await t.rejects(runCriu(['restore', '-D', join(dir, 'rs1'), '--stream'], { timeout: 30_000 }), CriuError, 'criu restore fails')

  const srv = join(dir, 'rs2')
  const good = await startShell(`cd ${dir} && ${bin('img-buffer')} -D ${srv} -n 2 --filter 'gzip -dc s$SHARD.gz' 2>/dev/null`)
  await waitSocket(join(srv, 'streamer-serve.sock'))
  const r = await startRestore(['-D', srv, '--stream'])
  t.teardown(() => r.kill())
  const rw = workloadFromPid(r.pid, w.logPath)
  t.equal(await rw.verify(), OK, 'memory intact after restore')
  t.equal(await rw.verify(), OK, 'and it keeps running')
  await r.kill()
  t.equal((await good.done).exitCode, 0, 'img-buffer exits 0')
})
