// The page stream's PAGE_HELLO ties a feeder to one dump: two dumps of the same workload (the
// same pids, the same lazy page count) differ in inventory.img (its dump_uptime), so their dump
// ids differ, and uffd-serve refuses the other dump's feeder with one line.
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { encodeHello } from '@criu-pipes/framing'
import { closeQuietly, makePipe, writeAll } from '@criu-pipes/sys'
import { loadImageSet } from '@criu-pipes/lazy-pages'
import { StreamSource } from '../src/index.js'
import { BIN, MADE_LAZY, tmpDir, writeImages } from './fixtures/lazy-task.js'

const BASE = 0x7f0000000000

/** A made-lazy dump of pid 42 whose inventory.img is `inventory` (dump_uptime is in there). */
function dump(dir: string, inventory: Buffer): string {
  mkdirSync(dir)
  writeImages(dir, { pid: 42, base: BASE, ...MADE_LAZY })
  writeFileSync(join(dir, 'inventory.img'), inventory)
  return dir
}

t.test('two dumps of the same workload: same page count, different dump ids; a copy of one: the same id', async (t) => {
  const root = tmpDir(t)
  const a = loadImageSet(dump(join(root, 'a'), Buffer.from('inventory uptime 1000')))
  const b = loadImageSet(dump(join(root, 'b'), Buffer.from('inventory uptime 1001')))
  cpSync(join(root, 'a'), join(root, 'a-copy'), { recursive: true })
  const copy = loadImageSet(join(root, 'a-copy'))
  t.equal(a.tasks.get(42)!.lazyPages, b.tasks.get(42)!.lazyPages, 'the page count cannot tell them apart')
  t.equal(a.dumpId.length, 16)
  t.not(a.dumpId.toString('hex'), b.dumpId.toString('hex'), 'the dump id can')
  t.equal(copy.dumpId.toString('hex'), a.dumpId.toString('hex'), 'the images shipped elsewhere name the same dump')
})

t.test('StreamSource.hello checks the dump id, then the page count', async (t) => {
  const root = tmpDir(t)
  const a = loadImageSet(dump(join(root, 'a'), Buffer.from('one')))
  const b = loadImageSet(dump(join(root, 'b'), Buffer.from('two')))
  const pages = MADE_LAZY.lazyPages
  const hello = (id: Buffer, n = pages): StreamSource => {
    const [r, w] = makePipe()
    const [r2, w2] = makePipe()
    t.teardown(() => { for (const fd of [r, w, r2, w2]) closeQuietly(fd) })
    writeAll(w, encodeHello(n, id))
    const src = StreamSource.overFds(r, w2)
    src.hello({ pages, dumpId: a.dumpId }, 1000)
    return src
  }
  t.doesNotThrow(() => hello(a.dumpId), 'its own dump')
  t.throws(() => hello(b.dumpId), new RegExp(`serves dump ${b.dumpId.toString('hex')}, the images here are dump ${a.dumpId.toString('hex')}: not the same dump`))
  t.throws(() => hello(a.dumpId, pages + 1), /serves \d+ lazy pages, the images here describe \d+: not the same dump/)
})

t.test('uffd-serve refuses another dump\'s feeder with one line, before it listens', async (t) => {
  const root = tmpDir(t)
  const images = dump(join(root, 'images'), Buffer.from('this dump'))
  const other = loadImageSet(dump(join(root, 'other'), Buffer.from('an earlier dump of the same workload')))
  const work = join(root, 'work')
  const r = spawnSync(process.execPath, [BIN, '-D', images, '-W', work, '--pages-fds', '0,1'], {
    input: encodeHello(other.tasks.get(42)!.lazyPages, other.dumpId), timeout: 30_000, encoding: 'utf8',
  })
  t.equal(r.status, 1, 'exit 1')
  t.match(r.stderr, /^uffd-serve: page stream on fds 0,1 serves dump [0-9a-f]{32}, the images here are dump [0-9a-f]{32}: not the same dump\n$/, `one line: ${r.stderr}`)
})
