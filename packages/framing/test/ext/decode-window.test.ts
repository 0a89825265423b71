// The decode window: chunks kept as they arrived (DecodingReader's LazyFiles) decoded on the pool
// as a reader takes them, each handed out only once verified; a damaged chunk throws its one
// line, and not a byte of it (nor of anything after it) is handed out.
import t, { type Test } from 'tap'
import { closeSync, openSync, readSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { DecodingReader, FramingError, type DecodeWindow, type ExtWriteOptions, type StoredChunk } from '../../src/index.js'
import { tmp, rng, mixedBytes, writeImage, parseShard, writeShard } from './streams.js'

const PAGES = 'pages-1.img'

/** Reads the image, keeping pages-1.img's chunks in memory for the window; returns the window and those chunks. */
function kept(t: Test, paths: string[], key: Buffer | null): { window: DecodeWindow; chunks: StoredChunk[]; others: Set<string>; released: () => number } {
  const fds = paths.map(p => openSync(p, 'r'))
  const chunks: StoredChunk[] = []
  const others = new Set<string>()
  let released = 0
  const r = new DecodingReader(fds, { key, threads: 2 }, null, {
    wants: name => name === PAGES,
    keep: (_name, c, take) => {
      let bytes = Buffer.alloc(0)
      take!((fd, size) => { bytes = Buffer.alloc(size); return readPayload(fd, bytes) })
      chunks.push({ ...c, source: { kind: 'memory', bytes, done: () => { released++ } } })
    },
  })
  try {
    for (let ev = r.next(); ev.type !== 'end'; ev = r.next()) if (ev.type === 'bytes') others.add(ev.name)
    const window = r.window()!
    t.equal(released, 0, 'no stored bytes taken before the window runs')
    return { window, chunks, others, released: () => released }
  } finally {
    r.close()
    fds.forEach(closeSync)
  }
}

/** The pending payload, read from the shard's offset (moving it, as the reader expects). */
function readPayload(fd: number, into: Buffer): number {
  let got = 0
  while (got < into.length) {
    const n = readSync(fd, into, got, into.length - got, null)
    if (n === 0) break
    got += n
  }
  return got
}

/** Everything the window hands out for `chunks`, until the end or the first failure. */
function served(window: DecodeWindow, chunks: StoredChunk[]): { bytes: Buffer; error: Error | null } {
  const s = window.open(chunks)
  const out: Buffer[] = []
  let error: Error | null = null
  try {
    for (let i = 0; i < chunks.length; i++) {
      let b: Buffer | null
      while ((b = s.ready()) === null) window.wait()
      out.push(Buffer.from(b))
      s.taken()
    }
  } catch (e) {
    error = e as Error
  } finally {
    s.close()
    window.close()
  }
  return { bytes: Buffer.concat(out), error }
}

const modes: Record<string, ExtWriteOptions> = {
  'zstd + checksum': { compress: 'zstd', level: 1, checksum: true, key: null, threads: 2 },
  'auto + encrypt': { compress: 'auto', level: 1, checksum: false, key: randomBytes(32), threads: 2 },
}

for (const [mode, opts] of Object.entries(modes)) {
  t.test(`${mode}: a kept file decoded through the window is the file; the others decoded as they came`, t => {
    const rand = rng(7)
    const pages = mixedBytes(rand, 3_000_000)
    const paths = writeImage(tmp(t), 2, { 'inventory.img': Buffer.from('inv'), [PAGES]: pages }, opts, rand)
    const { window, chunks, others } = kept(t, paths, opts.key)
    t.ok(chunks.length > 4, `${chunks.length} chunks kept`)
    t.same([...others], ['inventory.img'])
    const { bytes, error } = served(window, chunks)
    t.equal(error, null)
    t.ok(bytes.equals(pages), 'every byte, in order')
    t.end()
  })

  t.test(`${mode}: a damaged chunk in the middle is refused with its one line, nothing of it handed out`, t => {
    const rand = rng(9)
    const pages = mixedBytes(rand, 3_000_000)
    const paths = writeImage(tmp(t), 1, { [PAGES]: pages }, opts, rand)
    const recs = parseShard(paths[0]!)
    const chunkRecs = recs.filter(r => r.marker.body.kind === 'chunk' && r.payload.length > 0)
    const bad = chunkRecs[Math.floor(chunkRecs.length / 2)]!
    bad.payload[0] = bad.payload[0]! ^ 0x40
    writeShard(paths[0]!, recs)
    const { window, chunks } = kept(t, paths, opts.key)
    const { bytes, error } = served(window, chunks)
    t.type(error, FramingError)
    const m = /^pages-1\.img at offset (\d+) \(shard 0, marker \d+\): .+$/.exec(error!.message)
    t.ok(m, `one line naming the file and offset: ${error!.message}`)
    t.equal(bytes.length, Number(m![1]), 'handed out exactly the bytes before the damaged chunk')
    t.ok(bytes.equals(pages.subarray(0, bytes.length)), 'and they are the file\'s')
    t.end()
  })
}

t.test('verify(): every chunk checked, none kept, the stored bytes still there for the serving pass', t => {
  const opts = modes['zstd + checksum']!
  const rand = rng(11)
  const pages = mixedBytes(rand, 2_000_000)
  const paths = writeImage(tmp(t), 1, { [PAGES]: pages }, opts, rand)
  const { window, chunks, released } = kept(t, paths, null)
  window.verify(chunks)
  t.equal(released(), 0, 'no stored bytes let go by the verifying pass')
  const { bytes, error } = served(window, chunks)
  t.equal(error, null)
  t.ok(bytes.equals(pages), 'served whole after it')
  t.equal(released(), chunks.length, 'each let go once, by the serving pass')

  const recs = parseShard(paths[0]!)
  const chunkRecs = recs.filter(r => r.marker.body.kind === 'chunk' && r.payload.length > 0)
  chunkRecs[chunkRecs.length - 1]!.payload[0]! ^= 0x40
  writeShard(paths[0]!, recs)
  const damaged = kept(t, paths, null)
  t.throws(() => damaged.window.verify(damaged.chunks), /^pages-1\.img at offset \d+ \(shard 0, marker \d+\): /, 'the last chunk damaged: refused by verify()')
  damaged.window.close()
  t.end()
})
