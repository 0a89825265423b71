// Shard filters (-n N --filter CMD) against the CRIU simulator: $SHARD/$SHARDS, a round trip
// through filters on both sides, -s fds as the filters' other ends, and every way a filter
// failure must fail the capture or refuse the image, with one line naming the shard.
import t from 'tap'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { DumpClient } from '@criu-pipes/streamer'
import { close, writeAll } from '@criu-pipes/sys'
import { tmpDir } from '../lib/tmp-dir.js'
import { bin, startShell } from '../lib/bins.js'

const pattern = (n: number, seed: number) => {
  const b = Buffer.alloc(n)
  for (let i = 0; i + 4 <= n; i += 4) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i)
  return b
}
const image = (): Record<string, Buffer> => ({
  'pages-1.img': pattern(6_000_000, 2), 'core-1.img': pattern(900, 3), 'inventory.img': pattern(40, 4),
})

function dump(dir: string, files: Record<string, Buffer>): void {
  const c = new DumpClient(dir)
  for (const [name, data] of Object.entries(files)) c.file(name, data)
  c.finish()
}

const sameFiles = (dir: string, files: Record<string, Buffer>) =>
  readdirSync(dir).filter(n => n.endsWith('.img')).sort().join() === Object.keys(files).sort().join() &&
  Object.entries(files).every(([n, d]) => readFileSync(join(dir, n)).equals(d))

/** Captures `image()` through img-split with `args`; returns the capture's result. */
async function capture(dir: string, args: string) {
  const cap = await startShell(`cd ${dir} && ${bin('img-split')} -D ${dir}/ck ${args}`)
  dump(join(dir, 'ck'), image())
  return cap.done
}

t.test('$SHARD and $SHARDS: each filter sees its own shard number and the count, both sides', async t => {
  const dir = tmpDir(t)
  const c = await capture(dir, `-n 3 --filter 'echo "$SHARD/$SHARDS" >> up.env; cat > s$SHARD' 2>/dev/null`)
  t.equal(c.exitCode, 0, "img-split exits 0")
  t.same(readFileSync(join(dir, 'up.env'), 'utf8').trim().split('\n').sort(), ['0/3', '1/3', '2/3'])
  t.ok([0, 1, 2].every(i => statSync(join(dir, `s${i}`)).size > 0), 'every shard got data')
  const j = await (await startShell(`cd ${dir} && ${bin('img-join')} -D out -n 3 --filter 'echo "$SHARD/$SHARDS" >> down.env; cat s$SHARD'`)).done
  t.equal(j.exitCode, 0, "img-join exits 0")
  t.same(readFileSync(join(dir, 'down.env'), 'utf8').trim().split('\n').sort(), ['0/3', '1/3', '2/3'])
  t.ok(sameFiles(join(dir, 'out'), image()), 'the image comes back identical')
})

t.test('-s fds are the filters\' other ends: gzip per shard into fds 3 and 4, and back', async t => {
  const dir = tmpDir(t)
  const c = await capture(dir, `-n 2 --filter 'gzip -1' -s 3,4 3>a.gz 4>b.gz 2>/dev/null`)
  t.equal(c.exitCode, 0, "img-split exits 0")
  const j = await (await startShell(`cd ${dir} && ${bin('img-join')} -D out --filter 'gzip -dc' -s 3,4 3<a.gz 4<b.gz 2>/dev/null`)).done
  t.equal(j.exitCode, 0, "img-join exits 0")
  t.ok(sameFiles(join(dir, 'out'), image()), 'the image comes back identical (-n taken from -s)')
})

t.test('capture: a filter that reads everything and exits 1 fails img-split with one line', async t => {
  const dir = tmpDir(t)
  const c = await capture(dir, `-n 2 --filter 'cat > s$SHARD; [ $SHARD = 0 ]' -p 9 9>/dev/null`)
  t.equal(c.exitCode, 1)
  t.equal(c.stderr, `img-split: shard 1 of 2: filter 'cat > s$SHARD; [ $SHARD = 0 ]' exited with status 1`)
  t.ok(statSync(join(dir, 's1')).size > 1_000_000, 'it did read its shard')
})

/** img-split with one filter, fed 50 MiB of pages-1.img until it gives up: its result. */
async function captureUntilFailure(dir: string, filter: string) {
  const cap = await startShell(`${bin('img-split')} -D ${dir} --filter '${filter}' -p 9 9>/dev/null`)
  const c = new DumpClient(dir)
  const w = c.open('pages-1.img')
  try { for (let i = 0; i < 50; i++) writeAll(w, pattern(1 << 20, i)) } catch { /* EPIPE once img-split is gone */ }
  const r = await cap.done
  try { close(w); c.finish() } catch { /* already gone */ }
  return r
}

t.test('capture: a filter killed mid-stream names its signal, not the EPIPE it caused', async t => {
  const r = await captureUntilFailure(tmpDir(t), 'head -c 100000 > /dev/null; kill -9 $$')
  t.equal(r.exitCode, 1)
  t.match(r.stderr, /^img-split: shard 0 of 1: filter '.*' was killed by SIGKILL$/m)
})

t.test('capture: a filter that exits 0 without reading its shard is named by its command, not our fd', async t => {
  const r = await captureUntilFailure(tmpDir(t), 'exec true')
  t.equal(r.exitCode, 1)
  t.equal(r.stderr, "img-split: shard 0 of 1: filter 'exec true': its reader went away (EPIPE)")
})

t.test('read side: a filter that exits 0 with a truncated shard is named by its command', async t => {
  const dir = tmpDir(t)
  const c = await capture(dir, `-n 2 --filter 'cat > s$SHARD' 2>/dev/null`)
  t.equal(c.exitCode, 0, "img-split exits 0")
  const b = await (await startShell(`cd ${dir} && ${bin('img-buffer')} -D rs -n 2 --filter 'head -c 1000 s$SHARD' -p 9 9>/dev/null`)).done
  t.equal(b.exitCode, 1)
  t.match(b.stderr, /^img-buffer: shard [01] of 2: filter 'head -c 1000 s\$SHARD': truncated \(the stream ends \d+ bytes into a \d+-byte payload of [\w.-]+\)$/)
})

t.test('read side: a filter that fails after complete bytes makes the image refused', async t => {
  const dir = tmpDir(t)
  const c = await capture(dir, `-n 2 --filter 'cat > s$SHARD' 2>/dev/null`)
  t.equal(c.exitCode, 0, "img-split exits 0")
  const failing = `--filter 'cat s$SHARD; [ $SHARD = 0 ] || exit 3'`
  const b = await (await startShell(`cd ${dir} && ${bin('img-buffer')} -D rs -n 2 ${failing} -p 9 9>rs.progress`)).done
  t.equal(b.exitCode, 1)
  t.equal(b.stderr, `img-buffer: shard 1 of 2: filter 'cat s$SHARD; [ $SHARD = 0 ] || exit 3' exited with status 3`)
  t.notOk(existsSync(join(dir, 'rs', 'streamer-serve.sock')), 'img-buffer never bound its socket')
  t.equal(readFileSync(join(dir, 'rs.progress'), 'utf8'), '', 'nor printed stats or socket-init')
  const x = await (await startShell(`cd ${dir} && ${bin('img-join')} -D out -n 2 ${failing} 2>/dev/null`)).done
  t.equal(x.exitCode, 1)
  t.same(readdirSync(join(dir, 'out')), [], 'img-join -D moved no file into place')
  const m = await (await startShell(`cd ${dir} && ${bin('img-join')} -n 2 ${failing} > merged 2>/dev/null`)).done
  t.equal(m.exitCode, 1)
  const again = await (await startShell(`cd ${dir} && ${bin('img-join')} -D out2 < merged`)).done
  t.match(again.stderr, /truncated stream: every shard ended without image_eof/, 'the merged output lacks image_eof')
})

t.test('bad filter command lines exit 2', async t => {
  const dir = tmpDir(t)
  for (const [args, msg] of [
    ['-n 2', /-n\/--shards is for --filter/],
    [`-n 3 --filter cat -s 3,4 3>/dev/null 4>/dev/null`, /-n 3 with 2 fds in -s/],
    [`-n 0 --filter cat`, /-n: "0" is not a positive whole number/],
    [`--filter ' '`, /--filter: the command is empty/],
  ] as const) {
    const r = await (await startShell(`${bin('img-split')} -D ${dir} ${args}`)).done
    t.equal(r.exitCode, 2, args)
    t.match(r.stderr, msg, args)
  }
})
