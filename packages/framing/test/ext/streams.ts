// Helpers for the extension tests: write an image through ExtWriter into shard files, read it
// back through DecodingReader, and take shard files apart marker by marker to damage them.
import { mkdtempSync, openSync, closeSync, readFileSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { ShardWriter, ExtWriter, DecodingReader, decodeMarker, encodeMarker, type ExtReadOptions, type ExtWriteOptions, type Marker } from '../../src/index.js'

export type Files = Record<string, Buffer>

export function tmp(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'framing-ext-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

/** A seeded generator, so a failing case can be replayed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32 }
}

/** Memory like a process's: zero pages, text-like pages, random pages, patterned pages. */
export function mixedBytes(rand: () => number, length: number): Buffer {
  const b = Buffer.alloc(length)
  const words = ['the', 'criu', 'page', 'image', 'stream', 'shard', 'process', 'memory', 'restore', 'node']
  for (let off = 0; off < length; off += 4096) {
    const end = Math.min(off + 4096, length)
    const kind = rand()
    if (kind < 0.3) continue
    if (kind < 0.6) { let o = off; while (o < end) { o += b.write(words[Math.floor(rand() * words.length)]! + ' ', o) } }
    else if (kind < 0.8) for (let o = off; o < end; o++) b[o] = Math.floor(rand() * 256)
    else for (let o = off; o < end; o++) b[o] = (o * 31) & 0xff
  }
  return b
}

export function writeImage(dir: string, shards: number, files: Files, opts: ExtWriteOptions, rand: () => number): string[] {
  const paths = Array.from({ length: shards }, (_, i) => join(dir, `shard-${i}`))
  const fds = paths.map(p => openSync(p, 'w'))
  const w = new ExtWriter(new ShardWriter(fds), opts)
  // Files written interleaved, in random pieces, as CRIU writes pagemap and pages.
  const left = new Map(Object.entries(files).map(([n, b]) => [n, { b, off: 0 }]))
  for (const name of left.keys()) w.open(name)
  while (left.size) {
    const names = [...left.keys()]
    const name = names[Math.floor(rand() * names.length)]!
    const f = left.get(name)!
    const n = Math.min(f.b.length - f.off, 1 + Math.floor(rand() * 600_000))
    if (n > 0) w.write(name, f.b.subarray(f.off, f.off + n))
    f.off += n
    if (f.off >= f.b.length) { w.endFile(name); left.delete(name) }
  }
  w.endImage()
  w.close()
  fds.forEach(closeSync)
  return paths
}

/**
 * `base`: the base directory of a delta stream (incremental checkpoints); `expectStream`:
 * --expect-stream; `pool`: decoding threads started early (ExtReadOptions.pool).
 */
export function readImage(paths: string[], key: Buffer | null = null, threads = 2, base: string | null = null, expectStream: Buffer | null = null, pool: ExtReadOptions['pool'] = null): Files {
  const fds = paths.map(p => openSync(p, 'r'))
  const r = new DecodingReader(fds, { key, threads, base, expectStream, pool })
  const parts = new Map<string, Buffer[]>()
  const out: Files = {}
  try {
    for (let ev = r.next(); ev.type !== 'end'; ev = r.next()) {
      if (ev.type === 'open') parts.set(ev.name, [])
      else if (ev.type === 'bytes') parts.get(ev.name)!.push(Buffer.from(ev.data))
      else if (ev.type === 'data') { const b = Buffer.alloc(ev.size); r.payloadInto(b); parts.get(ev.name)!.push(b) }
      else out[ev.name] = Buffer.concat(parts.get(ev.name)!)
    }
  } finally {
    r.close()
    fds.forEach(closeSync)
  }
  return out
}

/** A plain stream (no extensions) of one file, a.img = 'abc', in one shard file. */
export function plainShard(dir: string): string {
  const p = join(dir, 'plain')
  const fd = openSync(p, 'w')
  const w = new ShardWriter([fd])
  w.write('a.img', Buffer.from('abc')); w.endFile('a.img'); w.endImage()
  closeSync(fd)
  return p
}

export interface Rec { marker: Marker; payload: Buffer }

/** A shard file as its markers and their payloads. */
export function parseShard(path: string): Rec[] {
  const b = readFileSync(path)
  const recs: Rec[] = []
  for (let off = 0; off < b.length;) {
    const len = b.readUInt32LE(off)
    const marker = decodeMarker(b.subarray(off + 4, off + 4 + len))
    off += 4 + len
    const size = marker.body.kind === 'chunk' ? marker.body.chunk.storedLength : marker.body.kind === 'file_data' ? marker.body.size : 0
    recs.push({ marker, payload: Buffer.from(b.subarray(off, off + size)) })
    off += size
  }
  return recs
}

export function writeShard(path: string, recs: Rec[]): void {
  writeFileSync(path, Buffer.concat(recs.flatMap(r => [encodeMarker(r.marker), r.payload])))
}
