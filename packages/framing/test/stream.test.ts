import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, openSync, closeSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { makePipe, close, setPipeSize, writeAll, bytesQueued } from '@criu-pipes/sys'
import { ShardWriter, ImageReader, encodeMarker, FramingError, type MarkerBody } from '../src/index.js'

interface Files { [name: string]: Buffer }

function readImage(fds: number[]): { files: Files; order: string[]; reader: ImageReader } {
  const reader = new ImageReader(fds)
  const files: Files = {}
  const order: string[] = []
  const parts = new Map<string, Buffer[]>()
  for (;;) {
    const ev = reader.next()
    if (ev.type === 'end') break
    if (ev.type === 'open') { parts.set(ev.name, []); continue }
    if (ev.type === 'data') { const b = Buffer.alloc(ev.size); reader.payloadInto(b); parts.get(ev.name)!.push(b); continue }
    files[ev.name] = Buffer.concat(parts.get(ev.name)!)
    order.push(ev.name)
  }
  return { files, order, reader }
}

function tmp(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'framing-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

function shardFiles(dir: string, n: number, mode: 'w' | 'r'): number[] {
  return Array.from({ length: n }, (_, i) => openSync(join(dir, `shard-${i}`), mode))
}

const sample = (): Files => ({
  'inventory.img': Buffer.from('inventory'),
  'empty.img': Buffer.alloc(0),
  'pages-1.img': Buffer.from(Array.from({ length: 3 * 258048 + 17 }, (_, i) => (i * 7) & 0xff)),
  'core-1.img': Buffer.from('core'),
})

t.test('round trip over 1..8 shards (files), interleaved writes', async t => {
  for (let n = 1; n <= 8; n++) {
    const dir = tmp(t)
    const wfds = shardFiles(dir, n, 'w')
    const w = new ShardWriter(wfds)
    const src = sample()
    // Interleave two files the way CRIU writes pagemap and pages together.
    const pages = src['pages-1.img']!
    w.write('pages-1.img', pages.subarray(0, 100000))
    w.write('inventory.img', src['inventory.img']!)
    w.write('pages-1.img', pages.subarray(100000))
    w.endFile('pages-1.img')
    w.open('empty.img'); w.endFile('empty.img')
    w.write('core-1.img', src['core-1.img']!); w.endFile('core-1.img')
    w.endFile('inventory.img')
    w.endImage()
    wfds.forEach(closeSync)
    const sizes = w.sizes()
    const rfds = shardFiles(dir, n, 'r')
    const { files, order, reader } = readImage(rfds)
    rfds.forEach(closeSync)
    t.same(Object.keys(files).sort(), Object.keys(src).sort(), `${n} shards: same files`)
    for (const k of Object.keys(src)) t.ok(files[k]!.equals(src[k]!), `${n} shards: ${k} identical`)
    t.same(order, ['pages-1.img', 'empty.img', 'core-1.img', 'inventory.img'])
    t.same(reader.stats().map(s => s.size), sizes, 'read sizes equal written sizes')
    if (n > 1) t.ok(sizes.filter(s => s > 0).length > 1, 'more than one shard used')
  }
})

t.test('pipes: a writer thread and the reader polling 4 shards move 40 MB', async t => {
  const pipes = Array.from({ length: 4 }, () => makePipe())
  const code = `
    const { workerData } = require('node:worker_threads');
    import(workerData.framing).then(({ ShardWriter }) => {
      const w = new ShardWriter(workerData.fds);
      const buf = Buffer.alloc(1 << 20);
      for (let i = 0; i < 40; i++) { buf.fill(i); w.write('big.img', buf); }
      w.endFile('big.img'); w.endImage();
      for (const fd of workerData.fds) require('node:fs').closeSync(fd);
    });`
  const framing = new URL('../src/index.js', import.meta.url).href
  const worker = new Worker(code, { eval: true, workerData: { fds: pipes.map(p => p[1]), framing } })
  const { files } = readImage(pipes.map(p => p[0]))
  await new Promise(res => worker.on('exit', res))
  pipes.forEach(p => close(p[0]))
  const big = files['big.img']!
  t.equal(big.length, 40 << 20)
  let ok = true
  for (let i = 0; i < 40; i++) if (big[i << 20] !== i || big[(i << 20) + 1048575] !== i) ok = false
  t.ok(ok, 'content in order')
})

t.test('a burst from CRIU goes whole to a shard with room: one data marker per burst, over 1, 2 and 4 shards', async t => {
  const BURST = 1 << 20 // what a full 1 MiB CRIU pipe holds
  const BURSTS = 3
  for (const n of [1, 2, 4]) {
    const pipes = Array.from({ length: n }, () => makePipe())
    // the reader in a worker counts the data markers and checks the bytes
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.framing).then(({ ImageReader }) => {
        const r = new ImageReader(workerData.fds);
        let markers = 0, bytes = 0, ok = true;
        for (let ev; (ev = r.next()).type !== 'end';) {
          if (ev.type !== 'data') continue;
          markers++;
          const b = Buffer.alloc(ev.size); r.payloadInto(b);
          for (let i = 0; i < b.length; i += 4096) if (b[i] !== (((bytes + i) / 4096) & 0xff)) ok = false;
          bytes += b.length;
        }
        parentPort.postMessage({ markers, bytes, ok });
      });`
    const framing = new URL('../src/index.js', import.meta.url).href
    const worker = new Worker(code, { eval: true, workerData: { fds: pipes.map(p => p[0]), framing } })
    const got = new Promise<{ markers: number; bytes: number; ok: boolean }>(res => worker.once('message', res))
    const w = new ShardWriter(pipes.map(p => p[1]))
    const [src, srcIn] = makePipe()
    setPipeSize(srcIn, BURST)
    const data = Buffer.alloc(BURST)
    for (let b = 0; b < BURSTS; b++) {
      for (let i = 0; i < BURST; i += 4096) data.fill(((b * BURST + i) / 4096) & 0xff, i, i + 4096)
      writeAll(srcIn, data)
      w.spliceFrom('pages-1.img', src, BURST)
      // the consumers keep up: every shard empty again before the next burst
      while (pipes.some(p => bytesQueued(p[1]) > 0)) await new Promise(res => setTimeout(res, 1))
    }
    w.endFile('pages-1.img')
    w.endImage()
    pipes.forEach(p => close(p[1]))
    close(src); close(srcIn)
    const r = await got
    await new Promise(res => worker.on('exit', res))
    pipes.forEach(p => close(p[0]))
    t.same(r, { markers: BURSTS, bytes: BURSTS * BURST, ok: true }, `${n} shard(s): ${BURSTS} bursts, ${BURSTS} data markers, bytes intact`)
  }
})

t.test("what --compress auto reads of the shards: a local disk, and a link a write must wait for", t => {
  const dir = tmp(t)
  const files = [0, 1].map(i => openSync(join(dir, `f${i}`), 'w'))
  const disk = new ShardWriter(files)
  t.ok(disk.toDisk, 'shard files: a local disk')
  t.notOk(disk.full(1 << 30), 'a file always has room')
  const pipes = [makePipe(), makePipe()]
  const link = new ShardWriter(pipes.map(p => p[1]))
  t.notOk(link.toDisk, 'pipes: a link')
  t.notOk(link.full(65536), 'empty pipes: room')
  t.ok(link.drained(0.25), 'and drained')
  const mostly = Buffer.alloc(link.capacity - 32768)
  writeAll(pipes[0]![1], mostly)
  t.notOk(link.full(65536), 'one shard full, the other empty: room yet')
  writeAll(pipes[1]![1], mostly)
  t.ok(link.full(65536), 'no shard has room for it: the write would wait')
  t.notOk(link.full(16384), 'a smaller one fits')
  t.notOk(link.drained(0.25), 'full pipes: not drained')
  t.ok(disk.drained(0.25), 'files: nothing to drain')
  t.notOk(new ShardWriter([files[0]!, pipes[0]![1]]).toDisk, 'a file and a pipe: not a local disk')
  files.forEach(closeSync)
  pipes.flat().forEach(close)
  t.end()
})

// Hand-made streams for the refusals: a list of shards, each a list of markers (+ payload).
type Item = { seq: number; body: MarkerBody; data?: Buffer } | Buffer
function craft(t: Test, shards: Item[][]): number[] {
  const dir = tmp(t)
  return shards.map((items, i) => {
    const path = join(dir, `s${i}`)
    writeFileSync(path, Buffer.concat(items.map(it => Buffer.isBuffer(it) ? it : Buffer.concat([encodeMarker(it), it.data ?? Buffer.alloc(0)]))))
    return openSync(path, 'r')
  })
}
const fn = (seq: number, name: string): Item => ({ seq, body: { kind: 'filename', name } })
const data = (seq: number, s: string): Item => ({ seq, body: { kind: 'file_data', size: s.length }, data: Buffer.from(s) })
const feof = (seq: number): Item => ({ seq, body: { kind: 'file_eof' } })
const ieof = (seq: number): Item => ({ seq, body: { kind: 'image_eof' } })

t.test('damaged streams are refused with a clear error', async t => {
  const cases: [string, Item[][], RegExp][] = [
    ['empty stream', [[]], /every shard ended without image_eof/],
    ['no image_eof', [[fn(0, 'a'), data(1, 'xy'), feof(2)]], /every shard ended without image_eof/],
    ['truncated payload', [[fn(0, 'a'), { seq: 1, body: { kind: 'file_data', size: 3 }, data: Buffer.from('x') }]], /truncated .* payload/],
    ['truncated marker', [[fn(0, 'a'), encodeMarker({ seq: 1, body: { kind: 'file_eof' } }).subarray(0, 6)]], /truncated \(the stream ends inside a marker\)/],
    ['truncated length', [[fn(0, 'a'), Buffer.from([4, 0])]], /truncated/],
    ['marker too long', [[Buffer.from([0, 0x40, 0, 0])]], /marker length 16384 is out of range/],
    ['zero-length marker', [[Buffer.from([0, 0, 0, 0])]], /marker length 0/],
    ['unknown marker', [[Buffer.concat([Buffer.from([2, 0, 0, 0]), Buffer.from('3001', 'hex')])]], /unknown marker field 6/],
    ['data for no open file', [[data(0, 'x')]], /for no open file/],
    ['eof for no open file', [[feof(0)]], /file_eof .* for no open file/],
    ['data after image_eof', [[fn(0, 'a'), feof(1), ieof(2), fn(3, 'b')]], /data after image_eof/],
    ['data after image_eof on another shard', [[fn(0, 'a'), feof(1), ieof(2)], [fn(3, 'b')]], /data after image_eof/],
    ['image_eof with open file', [[fn(0, 'a'), data(1, 'x'), ieof(2)]], /still open: a/],
    ['missing marker (shard lost)', [[fn(0, 'a'), data(2, 'x')]], /marker 1 is missing/],
    ['duplicate seq', [[fn(0, 'a'), feof(1)], [feof(1), ieof(2)]], /comes again/],
    ['bad name ..', [[fn(0, '../etc')]], /bad image file name .*\.\./],
    ['absolute name', [[fn(0, '/etc/passwd')]], /is absolute/],
    ['name with slash', [[fn(0, 'a/b')]], /contains "\/"/],
    ['empty name', [[fn(0, '')]], /is empty/],
    ['NUL in name', [[fn(0, 'a\0b')]], /NUL/],
    ['file twice', [[fn(0, 'a'), feof(1), fn(2, 'a'), feof(3), ieof(4)]], /appears twice/],
  ]
  for (const [what, shards, re] of cases) {
    const fds = craft(t, shards)
    t.throws(() => readImage(fds), re, what)
    let err: unknown
    try { readImage(craft(t, shards)) } catch (e) { err = e }
    t.ok(err instanceof FramingError, `${what}: a FramingError`)
    fds.forEach(closeSync)
  }
})

t.test('a good hand-made stream reads, with seq spread across shards', async t => {
  // shard 2 holds file b, which never ends: image_eof must refuse it
  const fds = craft(t, [[fn(0, 'a'), data(1, 'he'), ieof(5)], [data(2, 'llo'), feof(3)], [fn(4, 'b')]])
  t.throws(() => readImage(fds), /still open: b/)
  const good = craft(t, [[fn(0, 'a'), data(1, 'he'), ieof(6)], [data(2, 'llo'), feof(3)], [fn(4, 'b'), feof(5)]])
  const { files } = readImage(good)
  t.equal(files['a']!.toString(), 'hello')
  t.equal(files['b']!.length, 0)
})
