// The extended stream's command lines against the CRIU simulator: img-split compressing and
// encrypting, img-join decoding, recompressing and re-encrypting, and the option errors.
import t, { type Test } from 'tap'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { DumpClient } from '@criu-pipes/streamer'
import { close, writeAll } from '@criu-pipes/sys'
import { tmpDir } from '../lib/tmp-dir.js'
import { bin, startShell } from '../lib/bins.js'

// Compressible pages (a repeated text) and zero pages, in 4 MiB.
const pages = Buffer.concat([Buffer.alloc(1 << 20), Buffer.from('criu-pipes page '.repeat(3 << 16))])
const files = { 'pages-1.img': pages, 'core-1.img': Buffer.from('core'), 'inventory.img': Buffer.from('inventory') }

function dump(dir: string): void {
  const c = new DumpClient(dir)
  const pg = c.open('pages-1.img')
  writeAll(pg, pages)
  close(pg)
  c.file('core-1.img', files['core-1.img'])
  c.file('inventory.img', files['inventory.img'])
  c.finish()
}

function sameFiles(t: Test, dir: string) {
  t.same(readdirSync(dir).filter(n => n.endsWith('.img')).sort(), Object.keys(files).sort(), 'the same files')
  for (const [n, data] of Object.entries(files)) t.ok(readFileSync(join(dir, n)).equals(data), `${n} identical`)
}

function key(dir: string, name: string): string {
  const p = join(dir, name)
  writeFileSync(p, randomBytes(32), { mode: 0o600 })
  return p
}

t.test('img-split --compress auto --encrypt; img-join recompresses with lz4 under another key; img-join -D decodes', async t => {
  const dir = tmpDir(t)
  const k1 = key(dir, 'k1'), k2 = key(dir, 'k2')
  const cap = await startShell(`${bin('img-split')} -D ${dir} -s 3,4 --compress auto --encrypt ${k1} --threads 2 -p 5 5>${dir}/progress 3>${dir}/s0 4>${dir}/s1`)
  dump(dir)
  const r = await cap.done
  t.equal(r.exitCode, 0, r.stderr)
  const stats = JSON.parse(readFileSync(join(dir, 'progress'), 'utf8').split('\n')[2]!)
  t.equal(stats.raw, pages.length + 4 + 9, 'raw bytes')
  t.ok(stats.codecs.zero >= 3 << 18 && stats.codecs.zstd > 0, `zero and zstd chunks: ${JSON.stringify(stats.codecs)}`)
  t.ok(stats.stored < stats.raw / 10, `compressed: ${stats.stored} of ${stats.raw}`)
  const re = await (await startShell(`${bin('img-join')} -s 3,4 --decrypt ${k1} --compress lz4 --encrypt ${k2} 3<${dir}/s0 4<${dir}/s1 > ${dir}/re 2>${dir}/re.err`)).done
  t.equal(re.exitCode, 0, readFileSync(join(dir, 're.err'), 'utf8'))
  t.match(JSON.parse(readFileSync(join(dir, 're.err'), 'utf8')).codecs, { lz4: Number }, 'recompressed with lz4')
  const wrong = await (await startShell(`${bin('img-join')} -D ${dir}/bad --decrypt ${k1} < ${dir}/re`)).done
  t.equal(wrong.exitCode, 1, 'the old key no longer opens it')
  t.match(wrong.stderr, /^img-join: \S+\.img at offset 0 \(shard 0, marker \d+\): authentication failed/)
  t.same(readdirSync(join(dir, 'bad')).filter(n => n.endsWith('.img')), [], 'nothing left in DIR')
  const x = await (await startShell(`${bin('img-join')} -D ${dir}/out --decrypt ${k2} < ${dir}/re`)).done
  t.equal(x.exitCode, 0, x.stderr)
  sameFiles(t, join(dir, 'out'))
})

t.test('--checksum alone; img-join without options writes the plain stream', async t => {
  const dir = tmpDir(t)
  const cap = await startShell(`${bin('img-split')} -D ${dir} --checksum > ${dir}/s 2>/dev/null`)
  dump(dir)
  t.equal((await cap.done).exitCode, 0)
  t.equal(readFileSync(join(dir, 's'))[4], (6 << 3) | 2, 'the stream starts with a stream header (field 6)')
  const m = await (await startShell(`${bin('img-join')} < ${dir}/s > ${dir}/plain 2>/dev/null`)).done
  t.equal(m.exitCode, 0)
  t.equal(readFileSync(join(dir, 'plain'))[4], (2 << 3) | 2, 'the merged stream starts with a filename (field 2)')
  const x = await (await startShell(`${bin('img-join')} -D ${dir}/out < ${dir}/plain`)).done
  t.equal(x.exitCode, 0, x.stderr)
  sameFiles(t, join(dir, 'out'))
})

t.test('bad options: exit 2; a key file others can read: exit 1', async t => {
  const dir = tmpDir(t)
  for (const [args, pattern] of [
    ['--compress gzip', /--compress: "gzip" is not none, lz4, zstd\[:LEVEL\] or auto/],
    ['--compress zstd:40', /--compress: "zstd:40"/],
    ['--threads 0', /--threads: "0" is not a thread count/],
  ] as const) {
    const r = await (await startShell(`${bin('img-split')} -D ${dir} ${args}`)).done
    t.equal(r.exitCode, 2, args)
    t.match(r.stderr, pattern)
  }
  const k = join(dir, 'open.key')
  writeFileSync(k, randomBytes(32), { mode: 0o644 })
  const r = await (await startShell(`${bin('img-split')} -D ${dir} --encrypt ${k}`)).done
  t.equal(r.exitCode, 1)
  t.match(r.stderr, /^img-split: key file .*open\.key: mode 644 lets other users read or write it/)
  const j = await (await startShell(`${bin('img-join')} -D ${dir}/x --compress lz4 < /dev/null`)).done
  t.equal(j.exitCode, 2, '--compress with -D')
})
