// img-buffer (and the criu-image-streamer command line) against the CRIU simulator: the restore
// side of the protocol, out-of-order and concurrent requests, freeing, refusals.
import t from 'tap'
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execSync } from 'node:child_process'
import { DumpClient, RestoreClient } from '@criu-pipes/streamer'
import { close, closeQuietly } from '@criu-pipes/sys'
import { encodeMarker } from '@criu-pipes/framing'
import { FILES_MAGIC, encodeImage, encodeMessage, varintField, lenField, parseImage, decodeMessage } from '@criu-pipes/criu-image'
import { tmpDir } from '../lib/tmp-dir.js'
import { pattern } from '../lib/pattern.js'
import { bin, startShell } from '../lib/bins.js'


/** A listening TCP socket entry of files.img (file_entry{type=INETSK, id, isk{..., proto, state, src_port}}). */
function filesImg(port: number): Buffer {
  const isk = encodeMessage([varintField(1, 2), varintField(3, 2), varintField(5, 6), varintField(6, 10), varintField(7, port), varintField(99, 7)])
  return encodeImage({ magic: FILES_MAGIC, entries: [encodeMessage([varintField(1, 4), varintField(2, 2), lenField(4, isk)])] })
}
function listenPort(img: Buffer): number {
  const entry = decodeMessage(parseImage(img, 'files.img', FILES_MAGIC).entries[0]!)
  const isk = decodeMessage(entry.find(f => f.num === 4)!.value as Buffer)
  return Number(isk.find(f => f.num === 7)!.value)
}

const image = () => ({
  'inventory.img': pattern(40, 1),
  'pagemap-1.img': pattern(3_000_000, 2), // bigger than CRIU's pipe: a sequential server deadlocks
  'pages-1.img': pattern(30_000_000, 3),
  'core-1.img': pattern(700, 4),
  'files.img': filesImg(8080),
})

/** Captures `files` with img-split into shard files s0..s(n-1). */
async function captureTo(dir: string, files: Record<string, Buffer>, shards: number): Promise<void> {
  const fds = Array.from({ length: shards }, (_, i) => i + 3)
  const cap = await startShell(`${bin('img-split')} -D ${dir} -s ${fds.join(',')} ${fds.map((fd, i) => `${fd}>${dir}/s${i}`).join(' ')} 2>/dev/null`)
  const c = new DumpClient(dir)
  for (const [name, data] of Object.entries(files)) if (name !== 'inventory.img') c.file(name, data)
  c.file('inventory.img', files['inventory.img']!)
  c.finish()
  const r = await cap.done
  if (r.exitCode !== 0) throw new Error(`capture failed: ${r.stderr}`)
}
const shardArgs = (dir: string, n: number) => {
  const fds = Array.from({ length: n }, (_, i) => i + 3)
  return `-s ${fds.join(',')} ${fds.map((fd, i) => `${fd}<${dir}/s${i}`).join(' ')}`
}

t.test('serves files in CRIU order, concurrently, once each; progress lines in order', async t => {
  const dir = tmpDir(t)
  const files = image()
  await captureTo(dir, files, 3)
  const srv = await startShell(`${bin('img-buffer')} -D ${dir}/r ${shardArgs(dir, 3)} -p 9 9>${dir}/progress --tcp-listen-remap 8080:9090`)
  const r = new RestoreClient(join(dir, 'r'))
  t.ok(r.file('inventory.img')!.equals(files['inventory.img']), 'inventory.img first, though written last')
  t.equal(r.file('nope.img'), null, 'a file the image lacks: exists=false')
  // CRIU reads 4 KiB of the pagemap, then asks for the pages before reading the rest.
  const pm = r.open('pagemap-1.img')!
  const head = RestoreClient.read(pm, 4096)
  const pages = r.file('pages-1.img')!
  const rest = RestoreClient.read(pm)
  close(pm)
  t.ok(Buffer.concat([head, rest]).equals(files['pagemap-1.img']), 'pagemap intact')
  t.ok(pages.equals(files['pages-1.img']), 'pages intact')
  t.equal(listenPort(r.file('files.img')!), 9090, '--tcp-listen-remap patched files.img')
  t.ok(r.file('core-1.img')!.equals(files['core-1.img']))
  r.finish()
  const res = await srv.done
  t.equal(res.exitCode, 0, res.stderr)
  const lines = readFileSync(join(dir, 'progress'), 'utf8').trim().split('\n')
  t.match(lines[0], /^\{"shards":\[(\{"size":\d+,"transfer_duration_millis":\d+\},?){3}\]\}$/, 'stats first')
  t.equal(lines[1], 'socket-init', 'then socket-init')
})

t.test('a second request for a file already sent is a clear error', async t => {
  const dir = tmpDir(t)
  await captureTo(dir, image(), 1)
  const srv = await startShell(`${bin('img-buffer')} -D ${dir}/r ${shardArgs(dir, 1)} 2>&1 >/dev/null | grep -v shards >&2`)
  const r = new RestoreClient(join(dir, 'r'))
  r.file('core-1.img')
  t.throws(() => r.file('core-1.img'))
  const res = await srv.done
  t.not(res.exitCode, 0)
  t.match(res.stderr, /^img-buffer: CRIU requested core-1\.img a second time/m)
})

t.test('a file CRIU closes unread is done: the next files are served, exit 0', async t => {
  // CRIU 4.1 does this with nftables-N.img when it restores into new namespaces (zdtm ns flavour).
  const dir = tmpDir(t)
  const files = image()
  await captureTo(dir, files, 1)
  const srv = await startShell(`${bin('img-buffer')} -D ${dir}/r ${shardArgs(dir, 1)} 2>&1 >/dev/null | grep -v shards >&2`)
  const r = new RestoreClient(join(dir, 'r'))
  const pages = r.open('pages-1.img')!
  RestoreClient.read(pages, 4096)
  close(pages) // 30 MB, most of it still unsent: img-buffer's next write gets EPIPE
  t.ok(r.file('core-1.img')!.equals(files['core-1.img']), 'the next file is served')
  t.ok(r.file('inventory.img')!.equals(files['inventory.img']))
  r.finish()
  const res = await srv.done
  t.equal(res.exitCode, 0, res.stderr)
  t.notMatch(res.stderr, /img-buffer:/, 'no error line')
})

t.test('capture piped live into img-buffer over 3 FIFOs (no deadlock), external file to its fd', async t => {
  const dir = tmpDir(t)
  execSync(`cd ${dir} && mkfifo f0 f1 f2 tar-in && mkdir r`)
  writeFileSync(join(dir, 'tar-src'), pattern(2_000_000, 7))
  const both = await startShell(
    `cat ${dir}/tar-src > ${dir}/tar-in & ` +
    `${bin('img-split')} -D ${dir} -s 3,4,5 -e fs.tar:6 3>${dir}/f0 4>${dir}/f1 5>${dir}/f2 6<${dir}/tar-in 2>/dev/null & ` +
    `${bin('img-buffer')} -D ${dir}/r -s 3,4,5 -e fs.tar:6 3<${dir}/f0 4<${dir}/f1 5<${dir}/f2 6>${dir}/tar-out 2>/dev/null; r=$?; wait; exit $r`)
  const files = { ...image(), 'pages-1.img': pattern(60_000_000, 8) }
  const c = new DumpClient(dir)
  for (const [name, data] of Object.entries(files)) if (name !== 'inventory.img') c.file(name, data)
  c.file('inventory.img', files['inventory.img'])
  c.finish()
  const r = new RestoreClient(join(dir, 'r'))
  for (const name of ['inventory.img', 'core-1.img', 'pages-1.img', 'pagemap-1.img']) {
    t.ok(r.file(name)!.equals(files[name as keyof typeof files]), `${name} intact`)
  }
  t.equal(r.file('fs.tar'), null, 'the external file went to its fd, not to CRIU')
  r.finish()
  t.equal((await both.done).exitCode, 0)
  t.ok(readFileSync(join(dir, 'tar-out')).equals(pattern(2_000_000, 7)), 'external file identical')
})

/** Where the final marker (image_eof: a few bytes, its seq varint included) starts. */
function lastMarkerStart(stream: Buffer): number {
  for (let len = 6; len < 16; len++) if (stream.readUInt32LE(stream.length - len) === len - 4) return stream.length - len
  throw new Error('no final marker found')
}

t.test('a truncated or corrupted shard: exit 1, clear message, no socket for CRIU', async t => {
  const dir = tmpDir(t)
  await captureTo(dir, image(), 1)
  const whole = readFileSync(join(dir, 's0'))
  const damaged: [string, Buffer, RegExp][] = [
    ['truncated', whole.subarray(0, whole.length - 1000), /truncated/],
    ['cut at a marker boundary before image_eof', whole.subarray(0, lastMarkerStart(whole)), /every shard ended without image_eof/],
    ['corrupted marker length', Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0x7f]), whole.subarray(4)]), /marker length 2147483647 is out of range/],
    ['corrupted marker tag', Buffer.concat([whole.subarray(0, 4), Buffer.from([0x3a]), whole.subarray(5)]), /unknown marker field 7|malformed chunk/],
    ['appended garbage', Buffer.concat([whole, encodeMarker({ seq: 999, body: { kind: 'file_eof' } })]), /after image_eof/],
  ]
  for (const [what, bytes, re] of damaged) {
    writeFileSync(join(dir, 'bad'), bytes)
    const res = await (await startShell(`${bin('img-buffer')} -D ${dir}/rb < ${dir}/bad`)).done
    t.equal(res.exitCode, 1, what)
    t.match(res.stderr, re, what)
    t.equal(res.stderr.trim().split('\n').length, 1, `${what}: one line`)
    t.notOk(existsSync(join(dir, 'rb', 'streamer-serve.sock')), `${what}: no socket, so no restore`)
  }
})

t.test('criu-image-streamer command line: capture, extract, serve, --version', async t => {
  const dir = tmpDir(t)
  const v = await (await startShell(`${bin('criu-image-streamer')} --version`)).done
  t.equal(v.exitCode, 0)
  t.equal(v.stdout, 'criu-image-streamer 1.0.0')
  const files = image()
  const cap = await startShell(`${bin('criu-image-streamer')} --images-dir ${dir} --progress-fd 9 capture 9>${dir}/progress > ${dir}/img`)
  const c = new DumpClient(dir)
  for (const [name, data] of Object.entries(files)) c.file(name, data)
  c.finish()
  t.equal((await cap.done).exitCode, 0)
  t.match(readFileSync(join(dir, 'progress'), 'utf8'), /^socket-init\ncheckpoint-start\n\{"shards":/)
  const ex = await (await startShell(`${bin('criu-image-streamer')} -D ${dir}/x extract < ${dir}/img`)).done
  t.equal(ex.exitCode, 0, ex.stderr)
  t.ok(readFileSync(join(dir, 'x', 'pages-1.img')).equals(files['pages-1.img']))
  const srv = await startShell(`${bin('criu-image-streamer')} --images-dir ${dir}/s --shard-fds 3 serve 3<${dir}/img 2>/dev/null`)
  const r = new RestoreClient(join(dir, 's'))
  t.ok(r.file('pages-1.img')!.equals(files['pages-1.img']))
  r.finish()
  t.equal((await srv.done).exitCode, 0)
  const bad = await (await startShell(`${bin('criu-image-streamer')} -D ${dir} --tcp-listen-remap 1:2 capture`)).done
  t.equal(bad.exitCode, 2)
  t.match(bad.stderr, /only supported when serving/)
})

/**
 * Writes shard files by hand, so that every payload boundary is known: each file's parts become
 * one file_data payload each, markers dealt round-robin over `n` shards (s0..s(n-1) in `dir`).
 */
function writeShards(dir: string, files: [string, Buffer[]][], n: number): void {
  const shards: Buffer[][] = Array.from({ length: n }, () => [])
  let seq = 0
  const put = (body: Parameters<typeof encodeMarker>[0]['body'], payload?: Buffer) => {
    const to = shards[seq % n]!
    to.push(encodeMarker({ seq: seq++, body }))
    if (payload) to.push(payload)
  }
  for (const [name, parts] of files) {
    put({ kind: 'filename', name })
    for (const p of parts) put({ kind: 'file_data', size: p.length }, p)
    put({ kind: 'file_eof' })
  }
  put({ kind: 'image_eof' })
  shards.forEach((parts, i) => writeFileSync(join(dir, `s${i}`), Buffer.concat(parts)))
}
const join_ = (parts: Buffer[]) => Buffer.concat(parts)
const split = (b: Buffer, sizes: number[]) => {
  const out: Buffer[] = []
  let off = 0
  for (const n of sizes) { out.push(b.subarray(off, off + n)); off += n }
  if (off < b.length) out.push(b.subarray(off))
  return out
}

/** files.img with the listening socket on `port` and enough other entries to pass 4 KiB. */
function bigFilesImg(port: number): Buffer {
  const isk = encodeMessage([varintField(1, 2), varintField(3, 2), varintField(5, 6), varintField(6, 10), varintField(7, port)])
  const regs = Array.from({ length: 120 }, (_, i) =>
    encodeMessage([varintField(1, 1), varintField(2, 100 + i), lenField(3, Buffer.from(`/srv/data/file-${i}.log`))]))
  return encodeImage({ magic: FILES_MAGIC, entries: [...regs.slice(0, 60), encodeMessage([varintField(1, 4), varintField(2, 2), lenField(4, isk)]), ...regs.slice(60)] })
}

/** An image whose payloads cover every case of the store: small, just small, small then large, many regions. */
function handMadeImage(): { files: Record<string, Buffer>; parts: [string, Buffer[]][] } {
  const pages = pattern(12_582_917, 11) // > 8 MiB: several regions from a pipe; odd length
  const pagemap = pattern(600_000, 12)
  const parts: [string, Buffer[]][] = [
    ['pagemap-1.img', split(pagemap, [4096, 200_000, 3])],
    ['pages-1.img', split(pages, [1000, 3000, 262_144, 1, 5_000_000, 262_139])],
    ['core-1.img', [pattern(700, 13)]],
    ['mm-1.img', split(pattern(4096, 14), [4000])], // exactly 4 KiB in two payloads
    ['fdinfo-2.img', split(pattern(4097, 15), [4096])], // one byte over
    ['empty.img', []],
    ['files.img', split(bigFilesImg(8080), [3000])],
    ['inventory.img', [pattern(40, 1)]], // CRIU writes it last
  ]
  return { files: Object.fromEntries(parts.map(([name, p]) => [name, join_(p)])), parts }
}

/** Takes the files the way CRIU does: inventory first, 4 KiB of the pagemap, then the pages. */
function restoreAll(dir: string, names: string[]): Record<string, Buffer> {
  const r = new RestoreClient(dir)
  const got: Record<string, Buffer> = {}
  got['inventory.img'] = r.file('inventory.img')!
  const pm = r.open('pagemap-1.img')!
  const head = RestoreClient.read(pm, 4096)
  got['pages-1.img'] = r.file('pages-1.img')!
  got['pagemap-1.img'] = Buffer.concat([head, RestoreClient.read(pm)])
  close(pm)
  for (const name of names) if (!(name in got)) got[name] = r.file(name)!
  r.finish()
  return got
}

t.test('the same image from shard files and from shard pipes: identical files, pagemap before pages, > 8 MiB', async t => {
  const dir = tmpDir(t)
  const { files, parts } = handMadeImage()
  writeShards(dir, parts, 2)
  const results: Record<string, Record<string, Buffer>> = {}
  for (const [how, redirect] of [['files', '3<s0 4<s1'], ['pipes', '3< <(cat s0) 4< <(cat s1)']] as const) {
    const srv = await startShell(`cd ${dir} && ${bin('img-buffer')} -D ${dir}/r-${how} -s 3,4 ${redirect} 2>/dev/null`)
    results[how] = restoreAll(join(dir, `r-${how}`), Object.keys(files))
    const res = await srv.done
    t.equal(res.exitCode, 0, `${how}: img-buffer exits 0`)
    for (const [name, data] of Object.entries(files)) t.ok(results[how]![name]!.equals(data), `${how}: ${name} intact (${data.length} bytes)`)
  }
  for (const name of Object.keys(files)) t.ok(results['files']![name]!.equals(results['pipes']![name]!), `${name}: files and pipes agree`)
})

t.test('a truncated shard file: exit 1, one line saying so, no socket for CRIU', async t => {
  const dir = tmpDir(t)
  const { parts } = handMadeImage()
  writeShards(dir, parts, 2)
  const whole = readFileSync(join(dir, 's1'))
  const at = (payload: Buffer, into: number) => {
    const i = whole.indexOf(payload.subarray(0, 64))
    if (i < 0) throw new Error('payload not found in s1')
    return i + into
  }
  const [pagesParts, filesParts] = [parts.find(p => p[0] === 'pages-1.img')![1], parts.find(p => p[0] === 'files.img')![1]]
  const cuts: [string, number, RegExp][] = [
    // Located in the file, never read: only its size says it is not all there.
    ['inside a large payload', at(pagesParts[6]!, 1_000_000), /^img-buffer: shard 1: truncated \(the stream ends 6054633 bytes into a 7054633-byte payload of pages-1\.img\)$/],
    // Copied (the first 4 KiB of a file): read short.
    ['inside a small payload', at(filesParts[0]!, 1500), /^img-buffer: shard 1: truncated \(the stream ends 1500 bytes into a 3000-byte payload of files\.img\)$/],
    ['right after a payload', at(pagesParts[4]!, 5_000_000), /^img-buffer: marker 13 is missing/],
  ]
  for (const [what, at, re] of cuts) {
    writeFileSync(join(dir, 'cut'), whole.subarray(0, at))
    const res = await (await startShell(`${bin('img-buffer')} -D ${dir}/rt -s 3,4 3<${dir}/s0 4<${dir}/cut`)).done
    t.equal(res.exitCode, 1, `${what}: exit 1`)
    t.match(res.stderr.trim(), re, `${what}: ${res.stderr.trim()}`)
    t.equal(res.stderr.trim().split('\n').length, 1, `${what}: one line`)
    t.notOk(existsSync(join(dir, 'rt', 'streamer-serve.sock')), `${what}: no socket, so no restore`)
  }
})

t.test('--tcp-listen-remap with shard files: files.img (over 4 KiB, in two payloads) patched, the rest intact', async t => {
  const dir = tmpDir(t)
  const { files, parts } = handMadeImage()
  writeShards(dir, parts, 2)
  const srv = await startShell(`${bin('img-buffer')} -D ${dir}/r -s 3,4 3<${dir}/s0 4<${dir}/s1 --tcp-listen-remap 8080:9090 2>/dev/null`)
  const got = restoreAll(join(dir, 'r'), Object.keys(files))
  t.equal((await srv.done).exitCode, 0)
  const before = parseImage(files['files.img']!, 'files.img', FILES_MAGIC).entries
  const after = parseImage(got['files.img']!, 'files.img', FILES_MAGIC).entries
  t.equal(after.length, before.length, 'every entry kept')
  const listening = after.map(e => decodeMessage(e)).findIndex(f => f.some(x => x.num === 4))
  t.equal(listenPort(encodeImage({ magic: FILES_MAGIC, entries: [after[listening]!] })), 9090, 'the listening port moved')
  t.ok(after.every((e, i) => i === listening || e.equals(before[i]!)), 'every other entry byte for byte')
  t.ok(got['pages-1.img']!.equals(files['pages-1.img']!), 'pages intact')
})

t.test('a shard file cut short after img-buffer read it: the transfer fails with a clear line', async t => {
  const dir = tmpDir(t)
  const { parts } = handMadeImage()
  writeShards(dir, parts, 1)
  const srv = await startShell(`${bin('img-buffer')} -D ${dir}/r -s 3 3<${dir}/s0`)
  const r = new RestoreClient(join(dir, 'r'))
  truncateSync(join(dir, 's0'), 1_000_000)
  const fd = r.open('pages-1.img')!
  const got = RestoreClient.read(fd)
  closeQuietly(fd)
  t.ok(got.length < 12_582_917, 'CRIU gets less than the file')
  r.finish()
  const res = await srv.done
  t.equal(res.exitCode, 1)
  t.match(res.stderr, /^img-buffer: while serving pages-1\.img: its shard file got shorter after img-buffer read it$/m)
})
