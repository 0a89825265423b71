// img-split and img-join against the CRIU simulator: the dump side of the protocol byte for byte,
// progress lines, shards, extraction, and every way a capture or a join must refuse to go on.
import t, { type Test } from 'tap'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execSync } from 'node:child_process'
import { DumpClient, waitForSocket } from '@criu-pipes/streamer'
import { close, writeAll, SysError } from '@criu-pipes/sys'
import { encodeMarker } from '@criu-pipes/framing'
import { tmpDir } from '../lib/tmp-dir.js'
import { pattern } from '../lib/pattern.js'
import { bin, startShell } from '../lib/bins.js'


const image = () => ({
  'pagemap-1.img': pattern(20_000, 1),
  'pages-1.img': pattern(6_000_000, 2),
  'core-1.img': pattern(900, 3),
  'empty.img': Buffer.alloc(0),
  'inventory.img': pattern(40, 4),
})

/** Dumps `files` through the simulator into a running capture, pagemap and pages interleaved. */
function dump(dir: string, files: Record<string, Buffer>, opts: { cpuinfo?: boolean } = {}): void {
  const c = new DumpClient(dir)
  if (opts.cpuinfo) c.file('cpuinfo.img', Buffer.from('cpu'))
  const pm = c.open('pagemap-1.img'), pg = c.open('pages-1.img')
  const pages = files['pages-1.img']!, pagemap = files['pagemap-1.img']!
  for (let i = 0; i < 4; i++) {
    writeAll(pm, pagemap.subarray(i * 5000, (i + 1) * 5000))
    writeAll(pg, pages.subarray(i * 1_500_000, (i + 1) * 1_500_000))
  }
  close(pm); close(pg)
  for (const name of ['core-1.img', 'empty.img', 'inventory.img']) c.file(name, files[name]!)
  c.finish()
}

function sameFiles(t: Test, dir: string, files: Record<string, Buffer>) {
  const names = readdirSync(dir).filter(n => n.endsWith('.img')).sort()
  t.same(names, Object.keys(files).sort(), 'the same files')
  for (const [n, data] of Object.entries(files)) t.ok(readFileSync(join(dir, n)).equals(data), `${n} identical`)
}

t.test('1 shard to a file, progress lines, img-join -D extracts it', async t => {
  const dir = tmpDir(t)
  const files = image()
  const cap = await startShell(`${bin('img-split')} -D ${dir} -p 3 3>${dir}/progress > ${dir}/shard`)
  waitForSocket(join(dir, 'streamer-capture.sock'))
  t.equal(statSync(join(dir, 'streamer-capture.sock')).mode & 0o777, 0o600, 'socket mode 0600')
  dump(dir, files, { cpuinfo: true })
  const r = await cap.done
  t.equal(r.exitCode, 0, r.stderr)
  const lines = readFileSync(join(dir, 'progress'), 'utf8').split('\n')
  t.equal(lines[0], 'socket-init')
  t.equal(lines[1], 'checkpoint-start')
  t.match(lines[2], /^\{"shards":\[\{"size":\d+,"transfer_duration_millis":\d+\}\]\}$/)
  t.equal(JSON.parse(lines[2]!).shards[0].size, statSync(join(dir, 'shard')).size, 'size counts the framing')
  t.same(readdirSync(dir).filter(n => n.endsWith('.sock')), [], 'no socket left once img-split is done')
  const j = await startShell(`${bin('img-join')} -D ${dir}/out < ${dir}/shard`)
  const jr = await j.done
  t.equal(jr.exitCode, 0, jr.stderr)
  t.match(jr.stderr, /^\{"shards":\[\{"size":\d+/, 'stats line on stderr')
  sameFiles(t, join(dir, 'out'), { ...files, 'cpuinfo.img': Buffer.from('cpu') })
})

t.test('3 shards, merged by img-join into one stream, then extracted', async t => {
  const dir = tmpDir(t)
  const files = image()
  const cap = await startShell(`${bin('img-split')} -D ${dir} -s 3,4,5 3>${dir}/s0 4>${dir}/s1 5>${dir}/s2 2>/dev/null`)
  dump(dir, files)
  t.equal((await cap.done).exitCode, 0)
  const sizes = [0, 1, 2].map(i => statSync(join(dir, `s${i}`)).size)
  t.ok(sizes.every(s => s > 0), `every shard used: ${sizes}`)
  const m = await startShell(`${bin('img-join')} -s 3,4,5 3<${dir}/s0 4<${dir}/s1 5<${dir}/s2 2>/dev/null | ${bin('img-join')} -D ${dir}/out`)
  const mr = await m.done
  t.equal(mr.exitCode, 0, mr.stderr)
  sameFiles(t, join(dir, 'out'), files)
})

t.test('load balancing: a slow shard consumer gets less of the image', async t => {
  const dir = tmpDir(t)
  // Shard 0's reader takes 64 KiB every 100 ms; the others read as fast as they can.
  const slow = `node -e 'const fs = require("fs"), b = Buffer.alloc(65536); let n = 0, r; const tick = () => { try { r = fs.readSync(0, b) } catch (e) { if (e.code === "EAGAIN") return setTimeout(tick, 100); throw e } if (r === 0) { fs.writeFileSync(process.argv[1], String(n)); return } n += r; setTimeout(tick, 100) }; tick()' ${dir}/slow-count`
  const cap = await startShell(`${bin('img-split')} -D ${dir} -s 3,4,5,6 3> >(${slow}) 4> >(wc -c > ${dir}/c1) 5> >(wc -c > ${dir}/c2) 6> >(wc -c > ${dir}/c3) 2>/dev/null; wait`)
  const c = new DumpClient(dir)
  c.file('pages-1.img', pattern(40 << 20, 5))
  c.file('inventory.img', Buffer.from('inv'))
  c.finish()
  t.equal((await cap.done).exitCode, 0)
  const { waitFor } = await import('../lib/wait.js')
  const slowBytes = await waitFor('the slow reader to finish', () => existsSync(join(dir, 'slow-count')) ? Number(readFileSync(join(dir, 'slow-count'), 'utf8')) : undefined)
  const fast = [1, 2, 3].map(i => Number(readFileSync(join(dir, `c${i}`), 'utf8').trim()))
  t.ok(slowBytes < 4 << 20, `the slow shard got ${slowBytes} bytes of 40 MiB`)
  for (const f of fast) t.ok(f > 8 << 20, `a fast shard got ${f} bytes`)
})

t.test('an external file (a tar through a FIFO) travels with the image and comes out identical', async t => {
  const dir = tmpDir(t)
  mkdirSync(join(dir, 'app'))
  writeFileSync(join(dir, 'app', 'data.txt'), pattern(300_000, 9))
  execSync(`mkfifo ${dir}/tarfifo`)
  const cap = await startShell(`tar -C ${dir}/app -cf - . > ${dir}/tarfifo & ${bin('img-split')} -D ${dir} -e fs.tar:7 7<${dir}/tarfifo > ${dir}/shard 2>/dev/null; wait`)
  const files = image()
  dump(dir, files)
  t.equal((await cap.done).exitCode, 0)
  mkdirSync(join(dir, 'restored'))
  const j = await startShell(`${bin('img-join')} -D ${dir}/out -e fs.tar:8 8> >(tar -C ${dir}/restored -xf -) < ${dir}/shard 2>/dev/null; sleep 0.3`)
  t.equal((await j.done).exitCode, 0)
  t.ok(readFileSync(join(dir, 'restored', 'data.txt')).equals(pattern(300_000, 9)), 'tar content identical')
  t.notOk(existsSync(join(dir, 'out', 'fs.tar')), 'sent to its fd, not to the directory')
  const k = await startShell(`${bin('img-join')} -D ${dir}/out2 < ${dir}/shard 2>/dev/null`)
  t.equal((await k.done).exitCode, 0)
  t.ok(existsSync(join(dir, 'out2', 'fs.tar')), 'without -e it is extracted like an image file')
})

t.test('a shard consumer killed mid-capture: img-split fails and CRIU sees EPIPE', async t => {
  const dir = tmpDir(t)
  const cap = await startShell(`${bin('img-split')} -D ${dir} | head -c 100000 > /dev/null`)
  const c = new DumpClient(dir)
  const w = c.open('pages-1.img')
  let err: unknown
  try {
    for (let i = 0; i < 100; i++) writeAll(w, pattern(1 << 20, i))
  } catch (e) { err = e }
  t.ok(err instanceof SysError && err.code === 'EPIPE', `CRIU's write fails: ${String(err)}`)
  const r = await cap.done
  t.not(r.exitCode, 0)
  t.match(r.stderr, /^img-split: shard 0 \(fd \d+\): its reader went away \(EPIPE\)$/m)
  try { close(w); c.finish() } catch { /* already gone */ }
})

t.test('a dump that ends without inventory.img leaves the stream unfinished', async t => {
  const dir = tmpDir(t)
  const cap = await startShell(`${bin('img-split')} -D ${dir} > ${dir}/shard`)
  const c = new DumpClient(dir)
  c.file('core-1.img', Buffer.from('x'))
  c.finish()
  const r = await cap.done
  t.equal(r.exitCode, 1)
  t.match(r.stderr, /without sending inventory\.img/)
  const j = await startShell(`${bin('img-join')} -D ${dir}/out < ${dir}/shard`)
  const jr = await j.done
  t.equal(jr.exitCode, 1)
  t.match(jr.stderr, /^img-join: truncated stream: every shard ended without image_eof/m)
})

t.test('bad command lines and fds get one clear line and a non-zero exit', async t => {
  const cases: [string, RegExp][] = [
    [`${bin('img-split')}`, /^img-split: Missing required argument: images-dir$/m],
    [`${bin('img-split')} -D /tmp -s x`, /^img-split: --shard-fds: "x" is not an fd number$/m],
    [`${bin('img-split')} -D /tmp -s 57`, /^img-split: shard: fd 57 is not open$/m],
    [`${bin('img-split')} -D /tmp -e noport`, /^img-split: --ext-file-fds: "noport" is not NAME:FD$/m],
    [`${bin('img-split')} -D /tmp -e ../x:1`, /bad image file name/],
    [`${bin('img-join')} -s 3 3</dev/null`, /^img-join: truncated stream: every shard ended without image_eof$/m],
    [`${bin('img-join')} -s 3 3</tmp`, /^img-join: shard: fd 3 is a directory$/m],
    [`${bin('img-join')} --bogus`, /^img-join: Unknown argument: bogus$/m],
    [`${bin('img-buffer')} -D /tmp --tcp-listen-remap 1:99999`, /is not OLD_PORT:NEW_PORT/],
  ]
  for (const [cmd, re] of cases) {
    const r = await (await startShell(cmd)).done
    t.not(r.exitCode, 0, cmd)
    t.match(r.stderr, re, cmd)
    t.equal(r.stderr.trim().split('\n').length, 1, `one line: ${cmd}`)
  }
})

t.test('shards over sockets, as sshd hands them to a remote command, and to /dev/null', async t => {
  const dir = tmpDir(t)
  const files = image()
  // Node gives a child socketpairs for stdio: the capture writes its shard into a socket.
  const viaSocket = (cmd: string) => `node -e 'const c = require("child_process").spawn("bash", ["-c", process.argv[1]], { stdio: ["pipe", "pipe", "inherit"] }); process.stdin.pipe(c.stdin); c.stdout.pipe(process.stdout); c.on("exit", code => process.exitCode = code)' '${cmd}'`
  const cap = await startShell(`${viaSocket(`${bin('img-split')} -D ${dir} 2>/dev/null`)} > ${dir}/shard`)
  dump(dir, files)
  t.equal((await cap.done).exitCode, 0, 'capture into a socket')
  const j = await (await startShell(`cat ${dir}/shard | ${viaSocket(`${bin('img-join')} -D ${dir}/out 2>/dev/null`)}`)).done
  t.equal(j.exitCode, 0, 'extract from a socket')
  sameFiles(t, join(dir, 'out'), files)
  const m = await (await startShell(`cat ${dir}/shard | ${viaSocket(`${bin('img-join')} 2>/dev/null`)} | ${bin('img-join')} -D ${dir}/out2 2>/dev/null`)).done
  t.equal(m.exitCode, 0, 'merge from a socket into a socket')
  sameFiles(t, join(dir, 'out2'), files)
  const nul = await startShell(`${bin('img-split')} -D ${dir}/n >/dev/null 2>/dev/null`)
  dump(join(dir, 'n'), files)
  t.equal((await nul.done).exitCode, 0, 'capture into /dev/null')
})

// Hand-made damaged streams for img-join.
function craft(path: string, parts: Buffer[]) { writeFileSync(path, Buffer.concat(parts)) }
const m = (seq: number, body: Parameters<typeof encodeMarker>[0]['body'], data?: string) =>
  Buffer.concat([encodeMarker({ seq, body }), Buffer.from(data ?? '')])

t.test('img-join refuses damaged streams and leaves no image behind', async t => {
  const dir = tmpDir(t)
  const good = [m(0, { kind: 'filename', name: 'inventory.img' }), m(1, { kind: 'file_data', size: 5 }, 'hello'), m(2, { kind: 'file_eof' }), m(3, { kind: 'image_eof' })]
  const cases: [string, Buffer[], RegExp][] = [
    ['truncated payload', [good[0]!, good[1]!.subarray(0, good[1]!.length - 2)], /truncated/],
    ['no image_eof', good.slice(0, 3), /every shard ended without image_eof/],
    ['escaping name', [m(0, { kind: 'filename', name: '../evil.img' }), m(1, { kind: 'file_eof' }), m(2, { kind: 'image_eof' })], /bad image file name "..\/evil.img"/],
    ['garbage', [Buffer.from('this is not a shard stream at all')], /marker length \d+ is out of range/],
  ]
  for (const [what, parts, re] of cases) {
    craft(join(dir, 'bad'), parts)
    const r = await (await startShell(`${bin('img-join')} -D ${dir}/out < ${dir}/bad`)).done
    t.equal(r.exitCode, 1, what)
    t.match(r.stderr, re, what)
    t.same(existsSync(join(dir, 'out')) ? readdirSync(join(dir, 'out')) : [], [], `${what}: nothing left in the directory`)
    t.notOk(existsSync(join(dir, 'evil.img')), `${what}: nothing written outside`)
    const merged = await (await startShell(`${bin('img-join')} < ${dir}/bad > ${dir}/merged`)).done
    t.equal(merged.exitCode, 1, `${what}: merge fails too`)
  }
  craft(join(dir, 'good'), good)
  t.equal((await (await startShell(`${bin('img-join')} -D ${dir}/out < ${dir}/good 2>/dev/null`)).done).exitCode, 0)
  const again = await (await startShell(`${bin('img-join')} -D ${dir}/out < ${dir}/good`)).done
  t.match(again.stderr, /already holds an image/, 'refuses to mix two images in one directory')
  closeSync(openSync(join(dir, 'x'), 'w'))
})
