// ExtWriter.take, the capture's way in: whole chunks ready in CRIU's pipe are read by the workers
// straight into their slots, in order whichever thread reads them; the main thread reads only
// what fills a partial chunk. Whatever the thread count, the same chunks, the same bytes back.
import t from 'tap'
import { openSync, closeSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { bytesQueued, close, makePipe, setPipeSize, writeAll } from '@criu-pipes/sys'
import { ExtWriter, ShardWriter, EXT_CHUNK, type ExtWriteOptions } from '../../src/index.js'
import { mixedBytes, readImage, rng, tmp } from './streams.js'

const PIPE = 1 << 20
/** Bytes this thread has read with read(2) and its kin so far (/proc/thread-self/io). */
const rchar = (): number => Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/thread-self/io', 'utf8'))![1])

/** Feeds `files` through one pipe each into take(), in random bursts, files interleaved as CRIU does. */
function capture(path: string, files: Record<string, Buffer>, opts: ExtWriteOptions, seed: number) {
  const rand = rng(seed)
  const fd = openSync(path, 'w')
  const w = new ExtWriter(new ShardWriter([fd]), opts)
  const pipes = new Map(Object.entries(files).map(([name, b]) => {
    const [r, wr] = makePipe()
    setPipeSize(wr, PIPE)
    return [name, { r, wr, b, off: 0 }]
  }))
  const before = rchar()
  while (pipes.size) {
    const names = [...pipes.keys()]
    const name = names[Math.floor(rand() * names.length)]!
    const p = pipes.get(name)!
    const room = PIPE - bytesQueued(p.r)
    const n = Math.min(p.b.length - p.off, room, 1 + Math.floor(rand() * PIPE))
    writeAll(p.wr, p.b, p.off, n)
    p.off += n
    // What is in the pipe and not claimed yet, as the capture loop offers it (claims first:
    // a read finishing between the two calls then only hides bytes for now).
    const claimed = w.unread(p.r)
    const ready = bytesQueued(p.r) - claimed
    if (ready > 0) w.take(name, p.r, ready)
    if (p.off < p.b.length) continue
    // The file ends: the workers' claimed reads first, then the rest.
    close(p.wr)
    for (;;) {
      const claimed = w.unread(p.r)
      const left = bytesQueued(p.r) - claimed
      if (left > 0) w.take(name, p.r, left)
      else if (claimed > 0) w.service()
      else break
    }
    w.endFile(name)
    close(p.r)
    pipes.delete(name)
  }
  w.endImage()
  const mainRead = rchar() - before
  const stats = w.stats()
  w.close()
  closeSync(fd)
  return { mainRead, stats }
}

t.test('--threads 1, 2, 4: the same chunks, the same bytes back; the main thread does not read the whole chunks', t => {
  const dir = tmp(t)
  const rand = rng(15)
  const files = { 'pages-1.img': mixedBytes(rand, 24 * EXT_CHUNK + 1000), 'pagemap-1.img': mixedBytes(rand, 70_000), 'pages-2.img': mixedBytes(rand, 5 * EXT_CHUNK) }
  const total = Object.values(files).reduce((n, b) => n + b.length, 0)
  let first: { stored: number; codecs: Record<string, number> } | null = null
  for (const threads of [1, 2, 4]) {
    const path = join(dir, `shard-${threads}`)
    const { mainRead, stats } = capture(path, files, { compress: 'lz4', level: 1, checksum: true, key: null, threads }, 7)
    const back = readImage([path])
    for (const [n, b] of Object.entries(files)) t.ok(back[n]?.equals(b), `${threads} threads: ${n} decodes to its bytes`)
    t.equal(stats.raw, total, `${threads} threads: every byte in`)
    t.ok(mainRead < total / 2, `${threads} threads: the main thread read ${mainRead} of ${total} bytes (only partial chunks)`)
    first ??= stats
    t.same({ stored: stats.stored, codecs: stats.codecs }, { stored: first.stored, codecs: first.codecs }, `${threads} threads: the same chunks as 1 thread`)
  }
  t.end()
})
