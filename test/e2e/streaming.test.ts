// Streaming checkpoint and restore with real CRIU 4.1: `criu dump --stream` through img-split,
// `criu restore --stream` through img-buffer, or img-join -D and a plain restore. Every restored
// workload must keep running with its memory intact (memhog verifies every page on request).
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execSync } from 'node:child_process'
import {
  needCriu, runCriu, startWorkload, tmpDir, waitFor, CriuError, restoredAndVerified,
} from '../lib/index.js'
import { bin, startShell } from '../lib/bins.js'

const MIB = 128
const NPAGES = (MIB << 20) / 4096
const OK = `verified ${NPAGES} ok`

const HOOK = bin('img-split').replace(/^node /, '')
const waitSocket = (path: string) => waitFor(`socket ${path}`, () => (existsSync(path) ? true : undefined))

async function runningWorkload(t: Test, dir: string, mib = MIB) {
  const w = await startWorkload({ mib, dir })
  t.teardown(() => w.kill())
  await w.waitReady()
  return w
}

t.test('dump through img-split into 1 shard file; img-join -D; plain criu restore -D', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const dumpDir = join(dir, 'dump'), out = join(dir, 'out')
  mkdirSync(dumpDir)
  const w = await runningWorkload(t, dir)
  const cap = await startShell(`${bin('img-split')} -D ${dumpDir} -p 9 9>${dir}/progress > ${dir}/shard`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  // img-split doubles as CRIU's action script: at post-dump it holds the dump until every byte is out.
  await runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream', '--action-script', HOOK])
  await w.exited
  const c = await cap.done
  t.equal(c.exitCode, 0, c.stderr)
  const progress = readFileSync(join(dir, 'progress'), 'utf8').split('\n')
  t.same(progress.slice(0, 2), ['socket-init', 'checkpoint-start'], 'progress lines')
  const stats = JSON.parse(progress[2]!) as { shards: { size: number; transfer_duration_millis: number }[] }
  t.same(Object.keys(stats), ['shards'])
  t.same(Object.keys(stats.shards[0]!), ['size', 'transfer_duration_millis'], 'stats JSON keys, in order')
  t.ok(stats.shards[0]!.size > MIB << 20, `the shard holds the image (${stats.shards[0]!.size} bytes)`)
  const j = await (await startShell(`${bin('img-join')} -D ${out} < ${dir}/shard`)).done
  t.equal(j.exitCode, 0, j.stderr)
  t.ok(existsSync(join(out, 'inventory.img')) && existsSync(join(out, `core-${w.pid}.img`)), 'image files extracted')
  await restoredAndVerified(t, ['-D', out], w.logPath, OK)
})

t.test('3 shards live from img-split into img-buffer; criu restore --stream; a tar travels along', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const dumpDir = join(dir, 'dump'), srvDir = join(dir, 'serve')
  mkdirSync(dumpDir); mkdirSync(srvDir); mkdirSync(join(dir, 'app')); mkdirSync(join(dir, 'restored'))
  writeFileSync(join(dir, 'app', 'scratch.bin'), Buffer.alloc(3_000_000, 0x37))
  execSync(`cd ${dir} && mkfifo f0 f1 f2 tar-in`)
  const w = await runningWorkload(t, dir)
  const pipeline = await startShell(
    `tar -C ${dir}/app -cf - . > ${dir}/tar-in & ` +
    `${bin('img-split')} -D ${dumpDir} -s 3,4,5 -e fs.tar:6 3>${dir}/f0 4>${dir}/f1 5>${dir}/f2 6<${dir}/tar-in 2>${dir}/split.err & ` +
    `${bin('img-buffer')} -D ${srvDir} -s 3,4,5 -e fs.tar:6 -p 7 3<${dir}/f0 4<${dir}/f1 5<${dir}/f2 ` +
    `6> >(tar -C ${dir}/restored -xf -) 7>${dir}/serve-progress; r=$?; wait; exit $r`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  await runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream'])
  await w.exited
  await waitSocket(join(srvDir, 'streamer-serve.sock'))
  const lines = readFileSync(join(dir, 'serve-progress'), 'utf8').split('\n')
  t.match(lines[0], /^\{"shards":\[(\{"size":\d+,"transfer_duration_millis":\d+\},?){3}\]\}$/, 'img-buffer: stats of 3 shards first')
  t.equal(lines[1], 'socket-init', 'then socket-init')
  await restoredAndVerified(t, ['-D', srvDir, '--stream'], w.logPath, OK)
  const p = await pipeline.done
  t.equal(p.exitCode, 0, p.stderr + readFileSync(join(dir, 'split.err'), 'utf8'))
  await waitFor('tar to finish', () => existsSync(join(dir, 'restored', 'scratch.bin')) ? true : undefined)
  t.ok(readFileSync(join(dir, 'restored', 'scratch.bin')).equals(Buffer.alloc(3_000_000, 0x37)), 'the tar came out identical')
})

t.test('dump through img-split into 2 shard files; img-buffer serves the files (page cache, no copy); criu restore --stream', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const dumpDir = join(dir, 'dump'), srvDir = join(dir, 'serve')
  mkdirSync(dumpDir); mkdirSync(srvDir)
  const w = await runningWorkload(t, dir)
  const cap = await startShell(`${bin('img-split')} -D ${dumpDir} -s 3,4 3>${dir}/s0 4>${dir}/s1 2>${dir}/split.err`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  await runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream', '--action-script', HOOK])
  await w.exited
  const c = await cap.done
  t.equal(c.exitCode, 0, readFileSync(join(dir, 'split.err'), 'utf8'))
  // exec: the shell becomes img-buffer, so its pid is ours to look at.
  const srv = await startShell(`exec ${bin('img-buffer')} -D ${srvDir} -s 3,4 3<${dir}/s0 4<${dir}/s1 2>${dir}/serve.err`)
  await waitSocket(join(srvDir, 'streamer-serve.sock'))
  const hwm = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${srv.pid}/status`, 'utf8'))![1]) * 1024
  // Copied, the image alone would take its size on top of node's own ~60-90 MiB.
  t.ok(hwm < MIB << 20, `the ${MIB} MiB image was not copied into img-buffer (peak RSS ${(hwm / 2 ** 20).toFixed(0)} MiB)`)
  await restoredAndVerified(t, ['-D', srvDir, '--stream'], w.logPath, OK)
  const r = await srv.done
  t.equal(r.exitCode, 0, readFileSync(join(dir, 'serve.err'), 'utf8'))
})

t.test('a shard consumer killed mid-capture: img-split fails, criu dump fails, the workload lives on', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const dumpDir = join(dir, 'dump')
  mkdirSync(dumpDir)
  const w = await runningWorkload(t, dir, 256)
  const cap = await startShell(`${bin('img-split')} -D ${dumpDir} -p 9 9>/dev/null | head -c 3000000 > /dev/null`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  await t.rejects(runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream']), CriuError, 'criu dump fails')
  const c = await cap.done
  t.not(c.exitCode, 0, 'the pipeline fails')
  t.match(c.stderr, /^img-split: shard 0 \(fd \d+\): its reader went away \(EPIPE\)$/m, 'img-split says why')
  t.ok(w.alive(), 'the workload was left running')
  t.equal(await w.verify(), `verified ${(256 << 20) / 4096} ok`, 'and healthy')
})

t.test('post-dump hook: a consumer that stalls, then dies after CRIU wrote its last byte, fails the dump', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const dumpDir = join(dir, 'dump')
  mkdirSync(dumpDir)
  // A small workload: its whole image fits in the pipes, so CRIU finishes writing although the
  // consumer reads nothing. Without the hook CRIU would report success and kill the workload
  // while the image still sat in pipes that are about to break.
  const w = await runningWorkload(t, dir, 1)
  const cap = await startShell(`${bin('img-split')} -D ${dumpDir} 2>${dir}/split.err | sh -c 'echo $$ > ${dir}/consumer.pid; kill -STOP $$; exec cat > /dev/null'`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  const dump = runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream', '--action-script', HOOK])
  const log = join(dumpDir, 'dump.log')
  await waitFor('CRIU to run the post-dump hook', () => existsSync(log) && /post-dump/.test(readFileSync(log, 'utf8')) ? true : undefined)
  t.ok(w.alive(), 'the workload is still frozen, not killed, while the hook waits')
  process.kill(Number(readFileSync(join(dir, 'consumer.pid'), 'utf8')), 'SIGKILL')
  await t.rejects(dump, CriuError, 'criu dump fails')
  t.not((await cap.done).exitCode, 0, 'the capture failed')
  t.match(readFileSync(join(dir, 'split.err'), 'utf8'), /^img-split: shard 0 .*EPIPE/m)
  t.ok(w.alive(), 'the workload was resumed')
  t.equal(await w.verify(), `verified ${(1 << 20) / 4096} ok`, 'and is healthy')
})

t.test('a truncated or corrupted shard: img-buffer and img-join refuse it, nothing is restored', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const dumpDir = join(dir, 'dump')
  mkdirSync(dumpDir)
  const w = await runningWorkload(t, dir, 32)
  const cap = await startShell(`${bin('img-split')} -D ${dumpDir} > ${dir}/shard 2>/dev/null`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  await runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream'])
  await w.exited
  t.equal((await cap.done).exitCode, 0)
  const whole = readFileSync(join(dir, 'shard'))
  const damaged: [string, Buffer][] = [
    ['truncated', whole.subarray(0, Math.floor(whole.length * 0.7))],
    ['corrupted', Buffer.concat([whole.subarray(0, 4), Buffer.from([0x3a]), whole.subarray(5)])],
  ]
  for (const [what, bytes] of damaged) {
    const srvDir = join(dir, `serve-${what}`)
    writeFileSync(join(dir, 'bad'), bytes)
    const srv = await (await startShell(`${bin('img-buffer')} -D ${srvDir} < ${dir}/bad`)).done
    t.equal(srv.exitCode, 1, `${what}: img-buffer exits 1`)
    t.match(srv.stderr, /^img-buffer: (shard 0: )?(truncated|unknown marker field|malformed chunk)/m, `${what}: says why: ${srv.stderr.trim()}`)
    await t.rejects(runCriu(['restore', '-D', srvDir, '--stream'], { timeout: 30_000 }), CriuError, `${what}: criu restore --stream cannot start`)
    const j = await (await startShell(`${bin('img-join')} -D ${join(dir, `x-${what}`)} < ${dir}/bad`)).done
    t.equal(j.exitCode, 1, `${what}: img-join exits 1`)
    t.notOk(existsSync(join(dir, `x-${what}`, 'inventory.img')), `${what}: no image extracted`)
  }
  t.notOk(existsSync(`/proc/${w.pid}/status`), 'no process was restored')
})
