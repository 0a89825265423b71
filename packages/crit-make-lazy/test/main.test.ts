import { appendFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import t, { type Test } from 'tap'
import { PE_LAZY, PE_PRESENT, encodeInventory } from '@criu-pipes/criu-image'
import { SHMEM_PAGEMAP, SKIPPED_FILES, TASKS, anonVma, expectedLazy, fileVma, writeImageDir, type TaskSpec } from './fixtures/image-dir.js'

const BIN = fileURLToPath(new URL('../../bin/crit-make-lazy.js', import.meta.url))
const run = (...args: string[]) => execa('node', [BIN, ...args], { reject: false })

/** One line on stderr starting with the tool name, nothing on stdout, exit code 1. */
async function refused(t: Test, args: string[], message: RegExp): Promise<void> {
  const r = await run(...args)
  t.equal(r.exitCode, 1, 'exit code 1')
  t.equal(r.stdout, '')
  t.match(r.stderr, /^crit-make-lazy: [^\n]*$/, 'one line')
  t.match(r.stderr, message)
}

function mustNotExist(t: Test, dir: string, dst: string): void {
  t.notOk(existsSync(join(dir, dst)), 'no DST')
  t.same(readdirSync(dir).filter((n) => n.includes('crit-make-lazy')), [], 'no temp dir left')
}

t.test('makes four tasks lazy, byte-exact, leaving everything else as it was', async (t) => {
  const dir = t.testdir()
  writeImageDir(join(dir, 'src'), TASKS, { parent: '../prev' })
  mkdirSync(join(dir, 'prev'))
  const r = await run(join(dir, 'src'), join(dir, 'dst'))
  t.equal(r.stderr, '')
  t.equal(r.exitCode, 0)
  const lazyPages = TASKS.reduce((n, task) => n + expectedLazy(task).lazyPages, 0)
  t.equal(lazyPages, 9 + 2 + 1)
  t.match(r.stdout, new RegExp(`^crit-make-lazy: \\d+(\\.\\d+)? KB -> \\d+(\\.\\d+)? KB \\(${lazyPages} pages left for lazy restore\\)$`))

  const src = join(dir, 'src')
  const dst = join(dir, 'dst')
  const rewritten = new Set(TASKS.flatMap((task) => [`pagemap-${task.pid}.img`, `pages-${task.pagesId}.img`]))
  const expected = readdirSync(src).filter((n) => !SKIPPED_FILES.includes(n)).sort()
  t.same(readdirSync(dst).sort(), expected, 'same files, logs/stats/socket skipped')
  for (const name of expected) {
    if (rewritten.has(name) || name === 'parent') continue
    t.same(readFileSync(join(dst, name)), readFileSync(join(src, name)), `${name} copied verbatim`)
  }
  for (const task of TASKS) {
    const want = expectedLazy(task)
    t.same(readFileSync(join(dst, `pagemap-${task.pid}.img`)), want.pagemap, `pagemap-${task.pid}.img`)
    t.same(readFileSync(join(dst, `pages-${task.pagesId}.img`)), want.pages, `pages-${task.pagesId}.img`)
  }
  t.ok(readFileSync(join(dst, SHMEM_PAGEMAP)).equals(readFileSync(join(src, SHMEM_PAGEMAP))), 'shmem untouched')
  t.ok(lstatSync(join(dst, 'parent')).isSymbolicLink())
  t.equal(readlinkSync(join(dst, 'parent')), '../prev', 'relative parent link kept: it resolves the same')

  const again = await run(dst, join(dir, 'again'))
  t.match(again.stdout, /\(0 pages left for lazy restore\)/, 'running on a lazy dir strips nothing')
  for (const name of readdirSync(dst)) {
    if (name !== 'parent') t.same(readFileSync(join(dir, 'again', name)), readFileSync(join(dst, name)), `${name} unchanged the second time`)
  }
})

t.test('an empty DST directory is fine; a parent link is made absolute when DST is elsewhere', async (t) => {
  const dir = t.testdir()
  writeImageDir(join(dir, 'a', 'src'), TASKS.slice(2), { parent: '../1' })
  mkdirSync(join(dir, 'b'))
  mkdirSync(join(dir, 'b', 'dst'))
  const r = await run(join(dir, 'a', 'src'), join(dir, 'b', 'dst'))
  t.equal(r.exitCode, 0, r.stderr)
  t.equal(readlinkSync(join(dir, 'b', 'dst', 'parent')), join(dir, 'a', '1'))
})

t.test('pages files larger than one copy chunk are copied whole', async (t) => {
  const dir = t.testdir()
  const MB = 1 << 20
  const PAGES_PER_MB = MB / 4096
  const FILE = 0x10000000
  const ANON = 0x20000000
  const big: TaskSpec = {
    pid: 7,
    pagesId: 2,
    vmas: [fileVma(FILE, FILE + 32 * MB), anonVma(ANON, ANON + 12 * MB)],
    entries: [
      { vaddr: FILE, nrPages: 10 * PAGES_PER_MB, flags: PE_PRESENT },
      { vaddr: ANON, nrPages: 12 * PAGES_PER_MB, flags: PE_LAZY | PE_PRESENT },
      { vaddr: ANON + 12 * MB, nrPages: 9 * PAGES_PER_MB, flags: PE_PRESENT },
    ],
  }
  writeImageDir(join(dir, 'src'), [big])
  const r = await run(join(dir, 'src'), join(dir, 'dst'))
  t.equal(r.exitCode, 0, r.stderr)
  t.match(r.stdout, /^crit-make-lazy: 32\.5 MB -> 19\.9 MB \(3072 pages left for lazy restore\)$/)
  t.ok(readFileSync(join(dir, 'dst', 'pages-2.img')).equals(expectedLazy(big).pages))
})

t.test('refusals leave no DST behind', async (t) => {
  const dir = t.testdir()
  const src = join(dir, 'src')
  writeImageDir(src, TASKS)
  const fresh = (name: string, tasks: TaskSpec[] = TASKS): string => {
    writeImageDir(join(dir, name), tasks)
    return join(dir, name)
  }

  t.test('a LAZY|PRESENT entry outside a lazy-able VMA', async (t) => {
    const task: TaskSpec = { ...TASKS[2]!, vmas: [fileVma(0x7f0000000000, 0x7f0000001000)] }
    await refused(t, [fresh('outside', [task]), join(dir, 'd1')], /pagemap-102\.img: entry 1 \(0x7f0000000000-0x7f0000001000\) is LAZY\|PRESENT but 0x7f0000000000 is not in a lazy-able VMA/)
    mustNotExist(t, dir, 'd1')
  })
  t.test('a truncated pages file', async (t) => {
    const s = fresh('truncated')
    truncateSync(join(s, 'pages-2.img'), 4096 * 5)
    await refused(t, [s, join(dir, 'd2')], /pages-2\.img is truncated: 20480 bytes, pagemap-100\.img accounts for 45056$/m)
    mustNotExist(t, dir, 'd2')
  })
  t.test('a pages file with trailing bytes', async (t) => {
    const s = fresh('long')
    appendFileSync(join(s, 'pages-3.img'), Buffer.alloc(4096))
    await refused(t, [s, join(dir, 'd3')], /pages-3\.img has 4096 bytes beyond the 16384 that pagemap-101\.img accounts for/)
  })
  t.test('a missing pages file', async (t) => {
    const s = fresh('nopages')
    rmSync(join(s, 'pages-4.img'))
    await refused(t, [s, join(dir, 'd4')], /pages-4\.img is missing; pagemap-102\.img needs 4096 bytes from it/)
  })
  t.test('a corrupted pagemap', async (t) => {
    const s = fresh('corrupt')
    const f = join(s, 'pagemap-101.img')
    const buf = readFileSync(f)
    buf.writeUInt32LE(0x12345678, 4)
    writeFileSync(f, buf)
    await refused(t, [s, join(dir, 'd5')], /pagemap-101\.img: bad magic: expected 0x54564319 \(IMG_COMMON\) 0x56084025 \(PAGEMAP\), found/)
    const cut = join(fresh('cut'), 'pagemap-100.img')
    truncateSync(cut, readFileSync(cut).length - 3)
    await refused(t, [join(dir, 'cut'), join(dir, 'd5')], /pagemap-100\.img: truncated entry: entry 6/)
    mustNotExist(t, dir, 'd5')
  })
  t.test('a missing mm image when something is to be stripped', async (t) => {
    const s = fresh('nomm')
    truncateSync(join(s, 'mm-102.img'), 0)
    await refused(t, [s, join(dir, 'd6')], /mm-102\.img: bad magic/)
    rmSync(join(s, 'mm-102.img'))
    await refused(t, [s, join(dir, 'd6')], /mm-102\.img is missing; it says which pages may be lazy/)
  })
  t.test('a non-empty DST, a DST that is a file, a DST inside SRC', async (t) => {
    mkdirSync(join(dir, 'full'))
    writeFileSync(join(dir, 'full', 'x'), 'keep me')
    await refused(t, [src, join(dir, 'full')], /full exists and is not empty; refusing to overwrite it/)
    t.equal(readFileSync(join(dir, 'full', 'x'), 'utf8'), 'keep me')
    writeFileSync(join(dir, 'file'), '')
    await refused(t, [src, join(dir, 'file')], /file exists and is not a directory/)
    await refused(t, [src, join(src, 'sub')], /is inside/)
    await refused(t, [src, src], /exists and is not empty/)
    await refused(t, [src, join(dir, 'no', 'such', 'place')], /no\/such \(where DST goes\) is not a directory/)
  })
  t.test('CRIU 4.3 --compress images (inventory compress, img_version 3): refused by name', async (t) => {
    const s = fresh('compressed')
    writeFileSync(join(s, 'inventory.img'), encodeInventory({ imgVersion: 3, compress: 1, compressBlockSize: 262144 }))
    await refused(t, [s, join(dir, 'd8')], /inventory\.img: memory pages compressed by CRIU --compress \(LZ4, 262144-byte blocks\), which crit-make-lazy cannot read; dump without --compress$/m)
    mustNotExist(t, dir, 'd8')
  })
  t.test('SRC that is not an image directory', async (t) => {
    await refused(t, [join(dir, 'nope'), join(dir, 'd7')], /nope is not a directory/)
    mkdirSync(join(dir, 'empty'))
    await refused(t, [join(dir, 'empty'), join(dir, 'd7')], /empty is not a CRIU image directory: no inventory\.img/)
  })
})

t.test('usage errors are one line too', async (t) => {
  await refused(t, [], /Not enough non-option arguments: got 0, need at least 2 \(usage: crit-make-lazy SRC DST\)/)
  await refused(t, ['a'], /got 1, need at least 2/)
  await refused(t, ['a', 'b', 'c'], /Unknown argument: c/)
  await refused(t, ['--bogus', 'a', 'b', 'c'], /Unknown argument/)
  const help = await run('--help')
  t.equal(help.exitCode, 0)
  t.match(help.stdout, /crit-make-lazy <src> <dst>/)
})

t.test('durable: every file of DST and DST itself are fsynced before the rename, the parent after it', async (t) => {
  const dir = t.testdir()
  writeImageDir(join(dir, 'src'), TASKS)
  const trace = join(dir, 'trace')
  // strace shows the calls the process makes; a power cut is what it protects against.
  const r = await execa('strace', ['-f', '-qq', '-e', 'trace=fsync,rename,renameat,renameat2', '-o', trace, 'node', BIN, join(dir, 'src'), join(dir, 'dst')], { reject: false })
  t.equal(r.exitCode, 0, r.stderr)
  const calls = readFileSync(trace, 'utf8').split('\n').filter((l) => /fsync\(|rename/.test(l))
  const rename = calls.findIndex((l) => /rename.*\.dst\.crit-make-lazy-/.test(l))
  t.ok(rename > 0, 'DST comes in by one rename')
  const files = readdirSync(join(dir, 'dst')).filter((n) => lstatSync(join(dir, 'dst', n)).isFile()).length
  t.ok(calls.slice(0, rename).filter((l) => l.includes('fsync(')).length >= files + 1, `${files} files and the directory fsynced before it`)
  t.ok(calls.slice(rename + 1).some((l) => l.includes('fsync(')), 'the parent fsynced after it')
})
