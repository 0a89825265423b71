// The extended stream with real CRIU 4.1: compressed (lz4, zstd, auto), checksummed and
// encrypted captures over 2 shards, restored through img-buffer (--stream) and through img-join
// -D (plain restore), an extended stream turned plain by img-join and served by img-buffer, and a
// damaged compressed image refused before anything is restored. Every restored workload must keep
// running with its memory intact (memhog verifies every page; its mixed memory compresses like
// an application's heap).
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { execSync } from 'node:child_process'
import {
  needCriu, runCriu, startWorkload, tmpDir, waitFor, CriuError, restoredAndVerified, waitSessionGone, pidAlive,
} from '../lib/index.js'
import { bin, startShell } from '../lib/bins.js'

const MIB = 64
const OK = `verified ${(MIB << 20) / 4096} ok`
const HOOK = bin('img-split').replace(/^node /, '')
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd])
const waitSocket = (path: string) => waitFor(`socket ${path}`, () => (existsSync(path) ? true : undefined))

async function dumped(t: Test, dir: string, splitArgs: string) {
  const dumpDir = join(dir, 'dump')
  mkdirSync(dumpDir)
  const w = await startWorkload({ mib: MIB, dir, memory: 'mixed' })
  t.teardown(() => w.kill())
  await w.waitReady()
  const cap = await startShell(`${bin('img-split')} -D ${dumpDir} -s 3,4 ${splitArgs} -p 9 9>${dir}/split.progress 3>${dir}/s0 4>${dir}/s1 2>${dir}/split.err`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  try {
    await runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream', '--action-script', HOOK])
  } catch (e) {
    await cap.done
    throw new Error(`${readFileSync(join(dir, 'split.err'), 'utf8')} ${(e as Error).message.slice(0, 300)}`)
  }
  await w.exited
  const c = await cap.done
  t.equal(c.exitCode, 0, readFileSync(join(dir, 'split.err'), 'utf8'))
  const stats = JSON.parse(readFileSync(join(dir, 'split.progress'), 'utf8').split('\n')[2]!) as { shards: { size: number }[]; raw: number; stored: number; codecs: Record<string, number>; stream: string; auto?: string }
  const auto = /--compress auto/.test(splitArgs)
  t.same(Object.keys(stats), ['shards', 'raw', 'stored', 'codecs', 'stream', ...(auto ? ['auto'] : [])], 'stats JSON: the extended counts after the shards, then the stream id (and what auto steered for)')
  if (auto) {
    t.equal(stats.auto, 'disk', 'auto into shard files: a local disk, where the ratio counts')
    t.notOk('lz4' in stats.codecs, `so zstd -1, never lz4's lower ratio (${JSON.stringify(stats.codecs)})`)
  }
  t.match(stats.stream, /^[0-9a-f]{32}$/, 'the stream id, for --expect-stream')
  t.ok(stats.raw > MIB << 20, `raw bytes counted (${stats.raw}, stored ${stats.stored}, ${JSON.stringify(stats.codecs)})`)
  return { w, stats }
}

function keyFile(dir: string): string {
  const p = join(dir, 'key')
  writeFileSync(p, randomBytes(32), { mode: 0o600 })
  return p
}

async function servedAndRestored(t: Test, dir: string, args: string, logPath: string) {
  const srvDir = join(dir, 'serve')
  mkdirSync(srvDir)
  const srv = await startShell(`exec ${bin('img-buffer')} -D ${srvDir} ${args} 2>${dir}/serve.err`)
  await waitSocket(join(srvDir, 'streamer-serve.sock'))
  await restoredAndVerified(t, ['-D', srvDir, '--stream'], logPath, OK)
  const r = await srv.done
  t.equal(r.exitCode, 0, readFileSync(join(dir, 'serve.err'), 'utf8'))
}

t.test('--compress lz4 over 2 shard pipes, live into img-buffer; criu restore --stream', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  execSync(`cd ${dir} && mkfifo f0 f1`)
  const dumpDir = join(dir, 'dump'), srvDir = join(dir, 'serve')
  mkdirSync(dumpDir); mkdirSync(srvDir)
  const w = await startWorkload({ mib: MIB, dir, memory: 'mixed' })
  t.teardown(() => w.kill())
  await w.waitReady()
  const pipeline = await startShell(
    `${bin('img-split')} -D ${dumpDir} -s 3,4 --compress lz4 --threads 2 3>${dir}/f0 4>${dir}/f1 2>${dir}/split.err & ` +
    `${bin('img-buffer')} -D ${srvDir} -s 3,4 -p 7 3<${dir}/f0 4<${dir}/f1 7>${dir}/serve-progress; r=$?; wait; exit $r`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  await runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream'])
  await w.exited
  await waitSocket(join(srvDir, 'streamer-serve.sock'))
  const stats = JSON.parse(readFileSync(join(dir, 'serve-progress'), 'utf8').split('\n')[0]!) as { codecs: Record<string, number> }
  t.ok((stats.codecs.lz4 ?? 0) > 0, `img-buffer decoded lz4 chunks (${JSON.stringify(stats.codecs)})`)
  await restoredAndVerified(t, ['-D', srvDir, '--stream'], w.logPath, OK)
  const p = await pipeline.done
  t.equal(p.exitCode, 0, p.stderr + readFileSync(join(dir, 'split.err'), 'utf8'))
})

t.test('--compress zstd into 2 shard files; img-join -D; plain criu restore -D', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const { w, stats } = await dumped(t, dir, '--compress zstd')
  t.ok(stats.stored < stats.raw / 3, `zstd shrank the mixed memory to ${(stats.stored / stats.raw * 100).toFixed(1)} %`)
  const out = join(dir, 'out')
  const j = await (await startShell(`${bin('img-join')} -s 3,4 -D ${out} 3<${dir}/s0 4<${dir}/s1`)).done
  t.equal(j.exitCode, 0, j.stderr)
  await restoredAndVerified(t, ['-D', out], w.logPath, OK)
})

t.test('--compress auto --encrypt KEY over 2 shards; img-buffer --decrypt; criu restore --stream', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const key = keyFile(dir)
  const { w, stats } = await dumped(t, dir, `--compress auto --encrypt ${key}`)
  t.ok(Object.keys(stats.codecs).some(c => c === 'zero' || c === 'zstd'), `auto chose per chunk: ${JSON.stringify(stats.codecs)}`)
  t.notOk(readFileSync(join(dir, 's0')).includes(Buffer.from('memhog')), 'no clear text of the workload in the shard')
  const noKey = await (await startShell(`${bin('img-buffer')} -D ${dir}/nokey -s 3,4 3<${dir}/s0 4<${dir}/s1`)).done
  t.equal(noKey.exitCode, 1)
  t.match(noKey.stderr, /^img-buffer: the stream is encrypted: give the key with --decrypt KEYFILE$/m)
  t.notOk(existsSync(join(dir, 'nokey', 'streamer-serve.sock')), 'no socket bound without the key')
  // Another stream under the same key (an older checkpoint, replayed) is refused when the reader says which it expects.
  const other = '0'.repeat(32)
  const replay = await (await startShell(`${bin('img-buffer')} -D ${dir}/replay -s 3,4 --decrypt ${key} --expect-stream ${other} 3<${dir}/s0 4<${dir}/s1`)).done
  t.equal(replay.exitCode, 1)
  t.match(replay.stderr, new RegExp(`^img-buffer: this is stream ${stats.stream}, not the expected ${other} \\(an older or another checkpoint\\)$`, 'm'))
  t.notOk(existsSync(join(dir, 'replay', 'streamer-serve.sock')), 'no socket bound for another stream')
  await servedAndRestored(t, dir, `-s 3,4 --decrypt ${key} --expect-stream ${stats.stream} 3<${dir}/s0 4<${dir}/s1`, w.logPath)
})

t.test('--compress auto --encrypt KEY; img-join -D --decrypt; plain criu restore -D', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const key = keyFile(dir)
  const { w } = await dumped(t, dir, `--compress auto --encrypt ${key}`)
  const out = join(dir, 'out')
  const j = await (await startShell(`${bin('img-join')} -s 3,4 -D ${out} --decrypt ${key} 3<${dir}/s0 4<${dir}/s1`)).done
  t.equal(j.exitCode, 0, j.stderr)
  await restoredAndVerified(t, ['-D', out], w.logPath, OK)
})

t.test('an extended stream turned plain by img-join, served by img-buffer', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const { w } = await dumped(t, dir, '--compress lz4 --checksum')
  const j = await (await startShell(`${bin('img-join')} -s 3,4 3<${dir}/s0 4<${dir}/s1 > ${dir}/plain`)).done
  t.equal(j.exitCode, 0, j.stderr)
  // A plain stream: criu-image-streamer's first marker is a filename (field 2), never field 6.
  const plain = readFileSync(join(dir, 'plain'))
  t.equal(plain[4], 0x12, 'the merged stream starts with a plain filename marker')
  await servedAndRestored(t, dir, `< ${dir}/plain`, w.logPath)
})

t.test('a flipped byte in one shard of a compressed, checksummed image: refused, nothing restored', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const { w } = await dumped(t, dir, '--compress zstd')
  const s1 = readFileSync(join(dir, 's1'))
  // A byte the decoder must read: the magic of the first zstd frame past the middle. (A flip at
  // a random place can land on a bit zstd never uses: the decoded pages, and so their checksum,
  // are then unchanged and the image is intact. Seen once in CI, then this test hung.)
  const mid = s1.indexOf(ZSTD_MAGIC, Math.floor(s1.length / 2))
  t.ok(mid > 0, 'a zstd frame in the second half of shard 1')
  s1[mid] = s1[mid]! ^ 0x40
  writeFileSync(join(dir, 's1'), s1)
  // The frame is in pages-N.img, decoded only while CRIU reads it (the decode window): the
  // socket is bound, and the chunk refused when CRIU gets to it. Not a byte of it reaches
  // CRIU's pipe, which img-buffer closes short: the restore fails, nothing is left running.
  const srvDir = join(dir, 'serve')
  mkdirSync(srvDir)
  const srv = await startShell(`exec timeout 120 ${bin('img-buffer')} -D ${srvDir} -s 3,4 -p 9 9>${dir}/serve.progress 3<${dir}/s0 4<${dir}/s1`)
  await waitSocket(join(srvDir, 'streamer-serve.sock'))
  await t.rejects(runCriu(['restore', '-D', srvDir, '--stream'], { timeout: 60_000 }), CriuError, 'criu restore --stream fails')
  const r = await srv.done
  t.equal(r.exitCode, 1, 'img-buffer exits 1')
  t.equal(r.stderr.trim().split('\n').length, 1, 'with one line')
  t.match(r.stderr, /^img-buffer: pages-\d+\.img at offset \d+ \(shard 1, marker \d+\): .+$/m, `naming the file and offset: ${r.stderr.trim()}`)
  // CRIU kills what it had restored; pid 1 reaps it (slowly). Nothing of it may keep running.
  await waitSessionGone(w.pid, 30_000)
  t.notOk(pidAlive(w.pid), 'no process was restored')
  const out = join(dir, 'out')
  const j = await (await startShell(`${bin('img-join')} -s 3,4 -D ${out} 3<${dir}/s0 4<${dir}/s1`)).done
  t.equal(j.exitCode, 1, 'img-join exits 1')
  t.notOk(existsSync(join(out, 'inventory.img')), 'img-join left no image in DIR')
})
