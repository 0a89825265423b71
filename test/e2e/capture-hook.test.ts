// img-split as CRIU's post-dump hook, with real CRIU 4.1: the hook answers ok only when the
// stream is complete in its consumer's hands (image_eof included), so a consumer that dies after
// CRIU wrote its last byte makes the dump fail and the process lives on; the normal path
// still restores with intact memory; and with --leave-running the hook keeps the process frozen
// until the image is out of CRIU's pipes, which hold the process's own pages.
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { needCriu, runCriu, startRestore, startWorkload, tmpDir, workloadFromPid, waitFor, CriuError, restoredAndVerified, type WorkloadMode } from '../lib/index.js'
import { bin, startShell } from '../lib/bins.js'
import { consumerDiesAfter } from '../lib/consumer-dies.js'
import { slowConsumer } from '../lib/slow-consumer.js'

const MIB = 16
const OK = `verified ${(MIB << 20) / 4096} ok`
const HOOK = bin('img-split').replace(/^node /, '')

async function runningWorkload(t: Test, dir: string, mode?: WorkloadMode) {
  const w = await startWorkload({ mib: MIB, dir, ...(mode ? { mode } : {}) })
  t.teardown(() => w.kill())
  await w.waitReady()
  return w
}

const waitSocket = (path: string) => waitFor(`socket ${path}`, () => (existsSync(path) ? true : undefined))

t.test('a consumer that dies after CRIU\'s last byte, before image_eof: the dump fails, the workload lives', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const dumpDir = join(dir, 'dump')
  mkdirSync(dumpDir)
  const w = await runningWorkload(t, dir)
  // It reads every byte up to inventory.img's file_eof (the last file CRIU writes), then exits.
  const cap = await startShell(`${bin('img-split')} -D ${dumpDir} 2>${dir}/split.err | ${consumerDiesAfter('inventory.img', join(dir, 'copy'))}`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  await t.rejects(runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream', '--action-script', HOOK]), CriuError, 'criu dump fails')
  t.match(readFileSync(join(dumpDir, 'dump.log'), 'utf8'), /Post dump script passed with [1-9]/, 'because the post-dump hook failed')
  await cap.done
  t.match(readFileSync(join(dir, 'split.err'), 'utf8'), /^img-split: shard 0 \(fd \d+\): its reader went away \(EPIPE\)/m, 'img-split says why')
  t.ok(readFileSync(join(dir, 'copy')).length > MIB << 20, 'the consumer had every byte CRIU wrote')
  t.ok(w.alive(), 'the workload was resumed, not killed')
  t.equal(await w.verify(), OK, 'and is healthy')
})

t.test('the hook over a pipe shard: the dump succeeds, the stream is complete, the restore verifies', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const dumpDir = join(dir, 'dump'), out = join(dir, 'out')
  mkdirSync(dumpDir)
  const w = await runningWorkload(t, dir)
  const cap = await startShell(`${bin('img-split')} -D ${dumpDir} 2>${dir}/split.err | cat > ${dir}/copy`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  await runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream', '--action-script', HOOK])
  await w.exited
  const c = await cap.done
  t.equal(c.exitCode, 0, readFileSync(join(dir, 'split.err'), 'utf8'))
  t.ok(existsSync(join(dumpDir, 'stats-dump')), 'stats-dump went to the images dir, not into the stream')
  const j = await (await startShell(`${bin('img-join')} -D ${out} < ${dir}/copy`)).done
  t.equal(j.exitCode, 0, j.stderr)
  t.notOk(existsSync(join(out, 'stats-dump')), 'the stream holds the images only')
  const r = await startRestore(['-D', out])
  t.teardown(() => r.kill())
  const rw = workloadFromPid(r.pid, w.logPath)
  t.equal(await rw.verify(), OK, 'memory intact after restore')
  await r.kill()
})

t.test('--leave-running into a consumer that lags: the restore of a process that dirties its pages verifies', async t => {
  // CRIU resumes the process once its pages are in img-split's pipes, which hold references to
  // those pages, not copies: only the hook's wait keeps what img-split reads after that the
  // process at the dump. The consumer lags so that the pipes are full when CRIU writes its last
  // byte; the workload rewrites a tenth of its pages every 100 ms once it runs again.
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const dumpDir = join(dir, 'dump')
  mkdirSync(dumpDir)
  const w = await runningWorkload(t, dir, 'dirty:100')
  const cap = await startShell(`${bin('img-split')} -D ${dumpDir} 2>${dir}/split.err | ${slowConsumer(8e6, join(dir, 'copy'))}`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  await runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream', '--leave-running', '--action-script', HOOK])
  const c = await cap.done
  t.equal(c.exitCode, 0, readFileSync(join(dir, 'split.err'), 'utf8'))
  t.ok(w.alive(), 'the workload runs on')
  w.kill()
  await w.exited
  const srv = join(dir, 'serve')
  mkdirSync(srv)
  const b = await startShell(`exec ${bin('img-buffer')} -D ${srv} -d < ${dir}/copy`)
  t.equal((await b.done).exitCode, 0)
  await restoredAndVerified(t, ['-D', srv, '--stream'], w.logPath, OK)
})
