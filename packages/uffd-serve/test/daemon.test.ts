// The daemon as a process, against a simulated `criu restore --lazy-pages`: this test process
// plays the restored task (a Region registered with a userfaultfd we open and API ourselves, as
// CRIU's restorer does), touches its memory from a worker thread and checks what lands there.
import t from 'tap'
import type { Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import {
  PAGE_SIZE, PE_LAZY, decodePagemapRaw, encodeMessage, encodePagemapRaw, lenField, varintField,
} from '@criu-pipes/criu-image'
import {
  Region, UFFD_FEATURE_EVENT_FORK, UFFD_FEATURE_EVENT_REMAP, UFFD_FEATURE_EVENT_REMOVE, UFFD_FEATURE_EVENT_UNMAP,
  close, uffdApi, uffdOpen, uffdRegister,
} from '@criu-pipes/sys'
import {
  KOFFI, LAYOUT, MADE_LAZY, RestoreSim, alive, ZERO, pageData, probeOf, range, startDaemon, tmpDir, touchPages, writeImages,
} from './fixtures/lazy-task.js'

const PID = 4242
/** CRIU's NEED_UFFD_API_FEATURES (0x4e). */
const CRIU_FEATURES = UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP

interface Task {
  region: Region
  base: number
  /** Opens the uffd and registers the memory; returns the fd to send. */
  arm(): number
  /** Closes our uffd: untouched pages become ordinary zero-fill memory. */
  done(): void
}

/**
 * A restored task's memory: LAYOUT.pages pages, to be registered in MISSING mode as the restorer
 * does. Arm it only once the daemon runs: with EVENT_FORK on, every fork of this process (a
 * spawn, say of the daemon) waits until someone reads the FORK event from the uffd.
 */
function lazyTask(t: Test): Task {
  const region = new Region(LAYOUT.pages * PAGE_SIZE)
  let uffd = -1
  const done = (): void => {
    if (uffd >= 0) close(uffd)
    uffd = -1
  }
  const arm = (): number => {
    uffd = uffdOpen()
    uffdApi(uffd, CRIU_FEATURES)
    uffdRegister(uffd, Number(region.ptr), region.length)
    return uffd
  }
  t.teardown(() => { done(); region.unmap() })
  return { region, base: Number(region.ptr), arm, done }
}

/** Page `i` as this process sees it now (no uffd any more, so no blocking). */
function probeNow(region: Region, i: number): [number, number, number] {
  const b = region.buffer(i * PAGE_SIZE, PAGE_SIZE)
  return [b.readUInt32LE(0), b.readUInt32LE(4), b[PAGE_SIZE - 1]!]
}

/** Pages of LAYOUT not as the images say, once our uffd is gone: lazy ones hold their data, the rest zero. */
function badPages(region: Region): number[] {
  return LAYOUT.entries.flatMap((e) => range(e.page, e.page + e.nrPages).filter((i) =>
    JSON.stringify(probeNow(region, i)) !== JSON.stringify(e.flags & PE_LAZY ? probeOf(i) : ZERO)))
}

t.test('serves faults before FTSR, pushes the rest after it, skips a zombie, exits 0', async (t) => {
  const dir = tmpDir(t)
  const task = lazyTask(t)
  writeImages(dir, { pid: PID, base: task.base, ...LAYOUT, zombies: [PID + 1] })
  const d = startDaemon(['lazy-pages', '--no-default-config', '-D', dir, '-o', 'lazy-pages.log', '--verbosity=4'])
  t.equal(await d.ready, true, 'status fd got \\0')
  const sim = new RestoreSim(dir)
  sim.zombie(PID + 1)
  sim.task(PID, task.arm())
  // Pages 3 and 25 are lazy, 17 is not (never faults in a real restore; here: zero page), 45 is
  // lazy in the second VMA. The worker blocks on each until the daemon answers; no FTSR yet.
  t.same(await touchPages(task.region.ptr, [3, 17, 25, 45]), [probeOf(3), ZERO, probeOf(25), probeOf(45)])
  sim.finish()
  sim.close()
  const { code, stderr } = await d.exit
  t.equal(code, 0, stderr)
  task.done()
  t.same(badPages(task.region), [], 'every lazy page holds its image data')
  const log = readFileSync(join(dir, 'lazy-pages.log'), 'utf8')
  t.match(log, `UFFD transferred pages: (${LAYOUT.lazyPages}/${LAYOUT.lazyPages})`)
  t.match(log, 'Zombie PID: 4243')
  t.match(log, /#PF at 0x[0-9a-f]+/)
})

t.test('REMOVE, REMAP and UNMAP events while lazy', async (t) => {
  const koffi = createRequire(import.meta.url)(KOFFI) as { load(l: string): { func(s: string): (...a: unknown[]) => unknown } }
  const libc = koffi.load('libc.so.6')
  const madvise = libc.func('int madvise(void *addr, size_t len, int advice)')
  const mremap = libc.func('void *mremap(void *old, size_t oldlen, size_t newlen, int flags, void *newaddr)')
  const munmap = libc.func('int munmap(void *addr, size_t len)')
  const MADV_DONTNEED = 4
  const MREMAP_MAYMOVE_FIXED = 3

  const dir = tmpDir(t)
  const task = lazyTask(t)
  writeImages(dir, { pid: PID, base: task.base, ...LAYOUT })
  const d = startDaemon(['-D', dir, '-o', 'lazy-pages.log', '-v4'])
  t.equal(await d.ready, true)
  const sim = new RestoreSim(dir)
  sim.task(PID, task.arm())
  const at = (page: number): bigint => task.region.ptr + BigInt(page * PAGE_SIZE)
  // Each call blocks until the daemon has read its event.
  t.equal(madvise(at(40), 4 * PAGE_SIZE, MADV_DONTNEED), 0, 'madvise(DONTNEED) pages 40-43')
  const dst = new Region(8 * PAGE_SIZE)
  t.teardown(() => munmap(dst.ptr, dst.length))
  t.equal(mremap(at(48), 8 * PAGE_SIZE, 8 * PAGE_SIZE, MREMAP_MAYMOVE_FIXED, dst.ptr), dst.ptr, 'mremap pages 48-55 elsewhere')
  t.equal(munmap(at(56), 8 * PAGE_SIZE), 0, 'munmap pages 56-63')
  t.same(await touchPages(task.region.ptr, [40, 43, 44]), [ZERO, ZERO, probeOf(44)], 'removed pages are plain zero-fill')
  t.same(await touchPages(dst.ptr, range(0, 8)), range(48, 56).map(probeOf), 'moved pages come from their dump-time address')
  sim.finish()
  sim.close()
  const { code, stderr } = await d.exit
  t.equal(code, 0, stderr)
  // Before dst is unmapped by teardown: with our uffd open, munmap would wait for a reader.
  task.done()
  const log = readFileSync(join(dir, 'lazy-pages.log'), 'utf8')
  t.match(log, /REMOVE: 0x[0-9a-f]+\(0x4000\)/)
  t.match(log, /REMAP: 0x[0-9a-f]+ -> 0x[0-9a-f]+ \(32768\)/)
  t.match(log, /UNMAP: 0x[0-9a-f]+\(0x8000\)/)
  // 4 removed + 8 unmapped pages were never copied; everything else was.
  t.match(log, `UFFD transferred pages: (${LAYOUT.lazyPages - 12}/${LAYOUT.lazyPages})`)
})

t.test('fork while lazy: the child gets its own state, and is let go when it is gone', async (t) => {
  const dir = tmpDir(t)
  const task = lazyTask(t)
  writeImages(dir, { pid: PID, base: task.base, ...LAYOUT })
  const d = startDaemon(['-D', dir, '-o', 'lazy-pages.log', '-v4'])
  t.equal(await d.ready, true)
  const sim = new RestoreSim(dir)
  sim.task(PID, task.arm())
  t.same(await touchPages(task.region.ptr, [5]), [probeOf(5)])
  // A spawn forks this process: clone() returns only once the daemon has read EVENT_FORK. The
  // child then execs, so its memory (and the daemon's copy of our lazy ranges for it) is gone.
  t.equal(spawnSync('true').status, 0)
  t.same(await touchPages(task.region.ptr, [6]), [probeOf(6)], 'the parent is still served')
  sim.finish()
  sim.close()
  const { code, stderr } = await d.exit
  t.equal(code, 0, stderr)
  const log = readFileSync(join(dir, 'lazy-pages.log'), 'utf8')
  t.match(log, /FORK: child with ufd=\d+, 59 pages to go/)
  t.match(log, /UFFD transferred pages: \(\d+\/59\) \[process exited\]/)
  t.match(log, `UFFD transferred pages: (${LAYOUT.lazyPages}/${LAYOUT.lazyPages})`)
})

t.test('a work dir too deep for sun_path: bound through its fd, found by its relative name as CRIU does', async (t) => {
  const dir = tmpDir(t)
  const work = join(dir, 'w'.repeat(60), 'x'.repeat(60))
  mkdirSync(work, { recursive: true })
  const task = lazyTask(t)
  writeImages(dir, { pid: PID, base: task.base, ...LAYOUT })
  const d = startDaemon(['-D', dir, '-W', work])
  t.equal(await d.ready, true)
  t.ok(existsSync(join(work, 'lazy-pages.socket')))
  // CRIU's restore connects to "lazy-pages.socket" from inside its work dir; so do we.
  const cwd = process.cwd()
  process.chdir(work)
  let sim: RestoreSim
  try { sim = new RestoreSim('.') } finally { process.chdir(cwd) }
  sim.task(PID, task.arm())
  t.same(await touchPages(task.region.ptr, [0]), [probeOf(0)])
  sim.finish()
  sim.close()
  const { code, stderr } = await d.exit
  t.equal(code, 0, stderr)
})

t.test('EOF before FTSR: the restore failed, exit 1', async (t) => {
  const dir = tmpDir(t)
  const task = lazyTask(t)
  writeImages(dir, { pid: PID, base: task.base, ...LAYOUT })
  const d = startDaemon(['-D', dir])
  t.equal(await d.ready, true)
  const sim = new RestoreSim(dir)
  sim.task(PID, task.arm())
  sim.close()
  const { code, stderr } = await d.exit
  t.equal(code, 1)
  t.match(stderr, /^uffd-serve: criu restore closed lazy-pages.socket after 1 of 1 tasks, waiting for the FTSR marker/)
  t.equal(stderr.trim().split('\n').length, 1, 'one line')
})

t.test('a pid the images do not have is a protocol error', async (t) => {
  const dir = tmpDir(t)
  const task = lazyTask(t)
  writeImages(dir, { pid: PID, base: task.base, ...LAYOUT })
  const d = startDaemon(['-D', dir])
  t.equal(await d.ready, true)
  const sim = new RestoreSim(dir)
  sim.task(PID + 7, task.arm())
  const { code, stderr } = await d.exit
  sim.close()
  t.equal(code, 1)
  t.match(stderr, /uffd-serve: criu restore sent pid 4249, which has no pagemap/)
})

t.test('a made-lazy directory is refused before listening', async (t) => {
  const dir = tmpDir(t)
  writeImages(dir, { pid: PID, base: 0x7f0000000000, ...MADE_LAZY })
  const d = startDaemon(['-D', dir])
  t.equal(await d.ready, false, 'never ready')
  const { code, stderr } = await d.exit
  t.equal(code, 1)
  t.equal(stderr,
    `uffd-serve: ${dir} has no data for ${LAYOUT.lazyPages} lazy pages (a crit-make-lazy output?): ` +
    'point -D at the full images or use --page-server\n')
})

t.test('a CRIU 4.3 --compress directory is refused by name before listening, not called truncated', async (t) => {
  const dir = tmpDir(t)
  writeImages(dir, { pid: PID, base: 0x7f0000000000, ...LAYOUT })
  // Entry 2 (pages 16-19) as CRIU 4.3 stores it with per-page blocks: its first page all zeros
  // (block size 0, nothing stored), the other three raw (4096 each).
  const pmName = join(dir, `pagemap-${PID}.img`)
  const raw = decodePagemapRaw(readFileSync(pmName))
  const blocks = encodeMessage([lenField(1, Buffer.from([0x00, 0x80, 0x20, 0x80, 0x20, 0x80, 0x20])), varintField(2, 3 * PAGE_SIZE), varintField(3, 1)])
  raw.messages[1] = Buffer.concat([raw.messages[1]!, encodeMessage([lenField(6, blocks)])])
  writeFileSync(pmName, encodePagemapRaw(raw.head, raw.messages))
  const pages = readFileSync(join(dir, 'pages-1.img'))
  writeFileSync(join(dir, 'pages-1.img'), Buffer.concat([pages.subarray(0, 16 * PAGE_SIZE), pages.subarray(17 * PAGE_SIZE)]))
  const d = startDaemon(['-D', dir])
  if (await d.ready) { t.fail('ready: it would serve the blocks as raw pages'); d.child.kill() }
  const { code, stderr } = await d.exit
  t.equal(code, 1)
  t.match(stderr, /^uffd-serve: pagemap-4242\.img: entry 2 \(vaddr 0x7f0000010000\) holds compressed pages \(CRIU --compress, LZ4, blocks of 1 page\(s\)\), which uffd-serve cannot read; dump without --compress\n$/)
  t.notMatch(stderr, /truncated/)
})

t.test('nobody connects within --connect-timeout: one line, exit 1, the socket removed', async (t) => {
  const dir = tmpDir(t)
  writeImages(dir, { pid: PID, base: 0x7f0000000000, ...LAYOUT })
  const d = startDaemon(['-D', dir, '--connect-timeout', '0.3'])
  t.equal(await d.ready, true, 'it listened')
  const { code, stderr } = await d.exit
  t.equal(code, 1)
  t.match(stderr, new RegExp(`^uffd-serve: nobody connected to ${dir}/lazy-pages.socket within 0.3 s: giving up\n$`, 'm'))
  t.notOk(existsSync(join(dir, 'lazy-pages.socket')), 'the socket is removed')
})

/**
 * A page server that knows LAYOUT's full data at `base`, answers GET with at most `clamp` pages
 * (as CRIU's clamps to its pipe runs) and drops the session on a non-lazy address, as CRIU does.
 */
function fakePageServer(t: Test, base: number, proto: '4.1' | '4.2', clamp: number) {
  const hs = proto === '4.1' ? 24 : 32
  const gets: { vaddr: number; nr: number }[] = []
  let closed = false
  let pinged = false
  const server = createServer((sock: Socket) => {
    let buf = Buffer.alloc(0)
    sock.on('data', (b: Buffer) => {
      buf = Buffer.concat([buf, b])
      while (buf.length >= hs) {
        const h = buf.subarray(0, hs)
        buf = buf.subarray(hs)
        const cmd = h.readUInt32LE(0)
        const nr = proto === '4.1' ? h.readUInt32LE(4) : Number(h.readBigUInt64LE(8))
        const vaddr = Number(h.readBigUInt64LE(proto === '4.1' ? 8 : 16))
        const pid = Number(h.readBigUInt64LE(proto === '4.1' ? 16 : 24))
        if (cmd === 0x1023) { closed = true; const s = Buffer.alloc(4); sock.write(s); continue }
        // PS_IOV_PARENT, the session's opening ping: no parent images.
        if (cmd === 5) { pinged = true; sock.write(Buffer.alloc(4)); continue }
        const first = (vaddr - base) / PAGE_SIZE
        const entry = LAYOUT.entries.find((e) => first >= e.page && first < e.page + e.nrPages)
        if (cmd !== 7 || pid !== PID || entry === undefined || !(entry.flags & PE_LAZY)) { sock.destroy(); return }
        gets.push({ vaddr, nr })
        const m = Math.min(nr, clamp, entry.page + entry.nrPages - first)
        const r = Buffer.alloc(hs)
        r.writeUInt32LE(0x40006, 0)
        if (proto === '4.1') { r.writeUInt32LE(m, 4); r.writeBigUInt64LE(BigInt(vaddr), 8); r.writeBigUInt64LE(BigInt(pid), 16) }
        else { r.writeBigUInt64LE(BigInt(m), 8); r.writeBigUInt64LE(BigInt(vaddr), 16); r.writeBigUInt64LE(BigInt(pid), 24) }
        sock.write(Buffer.concat([r, ...range(first, first + m).map(pageData)]))
      }
    })
    sock.on('error', () => {})
  })
  t.teardown(() => server.close())
  const port = new Promise<number>((res) => server.listen(0, '127.0.0.1', () => res((server.address() as AddressInfo).port)))
  return { port, gets, wasClosed: () => closed, wasPinged: () => pinged }
}

for (const proto of ['4.1', '4.2'] as const) {
  t.test(`--page-server (protocol ${proto}) with a made-lazy -D`, async (t) => {
    const dir = tmpDir(t)
    const task = lazyTask(t)
    writeImages(dir, { pid: PID, base: task.base, ...MADE_LAZY })
    const ps = fakePageServer(t, task.base, proto, 5)
    const d = startDaemon(['-D', dir, '-o', 'lazy-pages.log', '-v4', '--page-server', '--address', '127.0.0.1',
      '--port', String(await ps.port), '--page-server-proto', proto])
    t.equal(await d.ready, true)
    const sim = new RestoreSim(dir)
    sim.task(PID, task.arm())
    t.same(await touchPages(task.region.ptr, [1, 18, 30]), [probeOf(1), ZERO, probeOf(30)])
    sim.finish()
    sim.close()
    const { code, stderr } = await d.exit
    t.equal(code, 0, stderr)
    t.ok(ps.wasPinged(), 'the session opened with PS_IOV_PARENT')
    t.ok(ps.wasClosed(), 'PS_IOV_CLOSE sent')
    task.done()
    t.same(range(0, 64).map((i) => probeNow(task.region, i)),
      range(0, 64).map((i) => (i >= 16 && i < 20 ? ZERO : probeOf(i))))
    t.ok(ps.gets.every((g) => g.nr <= 1024), 'requests are at most one 4 MiB chunk')
    t.match(readFileSync(join(dir, 'lazy-pages.log'), 'utf8'), `UFFD transferred pages: (60/60)`)
  })
}

t.test('-d detaches once listening and writes --pidfile', async (t) => {
  const dir = tmpDir(t)
  const task = lazyTask(t)
  writeImages(dir, { pid: PID, base: task.base, ...LAYOUT })
  const d = startDaemon(['-D', dir, '-d', '--pidfile', 'lazy.pid', '-o', 'lazy-pages.log', '-v4'])
  t.equal(await d.ready, true)
  const { code } = await d.exit
  t.equal(code, 0, 'the starter exits 0')
  const pid = Number(readFileSync(join(dir, 'lazy.pid'), 'utf8'))
  t.ok(pid > 0 && pid !== d.child.pid, 'pidfile names the daemon')
  t.equal(statSync(join(dir, 'lazy.pid')).mode & 0o777, 0o600, 'pid file mode 0600')
  t.equal(readlinkSync(`/proc/${pid}/fd/2`), join(dir, 'lazy-pages.log'), 'the daemon\'s stderr is its log, not the starter\'s pipe')
  const sim = new RestoreSim(dir)
  sim.task(PID, task.arm())
  t.same(await touchPages(task.region.ptr, [2]), [probeOf(2)])
  sim.finish()
  sim.close()
  for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25))
  t.notOk(alive(pid), 'the daemon finished')
  t.match(readFileSync(join(dir, 'lazy-pages.log'), 'utf8'), 'UFFD transferred pages: (60/60)')
})

/**
 * A daemon that dies answers no fault, and the worker touching our pages would wait forever: once
 * `gone` resolves, let go of our uffd, so the faults resolve as zero pages and the test fails on
 * the data instead of hanging.
 */
function releaseWhenGone(gone: Promise<unknown>, task: Task): void {
  void gone.then(() => task.done())
}

async function gone(pid: number): Promise<void> {
  while (alive(pid)) await new Promise((r) => setTimeout(r, 25))
}

/** A whole simulated restore of one task whose lazy `pages` fault (all of them lazy). */
async function servedRestore(t: Test, dir: string, task: Task, pages: number[]): Promise<void> {
  const sim = new RestoreSim(dir)
  sim.task(PID, task.arm())
  t.same(await touchPages(task.region.ptr, pages), pages.map(probeOf), 'faults are served')
  sim.finish()
  sim.close()
}

/** SIGPIPE's bit in /proc/PID/status SigIgn (signal 13). */
const SIGPIPE_BIT = 1n << 12n

t.test('-d without -o: stderr was a pipe whose reader went away; a client connects; logging kills nothing', async (t) => {
  const dir = tmpDir(t)
  const task = lazyTask(t)
  writeImages(dir, { pid: PID, base: task.base, ...LAYOUT })
  // -v4: every fault logs a line, and all of it goes to stderr, which was the starter's pipe.
  const d = startDaemon(['-D', dir, '-d', '--pidfile', 'lazy.pid', '-v4'])
  t.equal(await d.ready, true)
  t.equal((await d.exit).code, 0, 'the starter exits 0, and with it the reader of that pipe')
  const pid = Number(readFileSync(join(dir, 'lazy.pid'), 'utf8'))
  releaseWhenGone(gone(pid), task)
  t.equal(readlinkSync(`/proc/${pid}/fd/2`), join(dir, 'uffd-serve.log'), 'the daemon\'s stderr is its default log, not a dead pipe')
  const sigIgn = BigInt(`0x${/^SigIgn:\s+([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]}`)
  t.ok(sigIgn & SIGPIPE_BIT, 'SIGPIPE is ignored')
  await servedRestore(t, dir, task, [2, 30, 45])
  await gone(pid)
  task.done()
  t.same(badPages(task.region), [], 'every lazy page holds its image data: the daemon lived to push them all')
})

t.test('-o /dev/full: every log write fails (ENOSPC); the daemon serves on and says so once, at exit', async (t) => {
  const dir = tmpDir(t)
  const task = lazyTask(t)
  writeImages(dir, { pid: PID, base: task.base, ...LAYOUT })
  const d = startDaemon(['-D', dir, '-o', '/dev/full', '-v4'])
  releaseWhenGone(d.exit, task)
  t.equal(await d.ready, true)
  await servedRestore(t, dir, task, [3, 25, 45])
  const { code, stderr } = await d.exit
  t.equal(code, 0, stderr)
  t.match(stderr, /^uffd-serve: warning: \d+ log lines were dropped: the log write failed \(ENOSPC\)\n$/, 'one line says so')
  task.done()
  t.same(badPages(task.region), [], 'every lazy page holds its image data')
})

t.test('-o /dev/full and a fatal error: one line each, no stack trace', async (t) => {
  const dir = tmpDir(t)
  const task = lazyTask(t)
  writeImages(dir, { pid: PID, base: task.base, ...LAYOUT })
  const d = startDaemon(['-D', dir, '-o', '/dev/full'])
  t.equal(await d.ready, true)
  const sim = new RestoreSim(dir)
  sim.task(PID, task.arm())
  sim.close()
  const { code, stderr } = await d.exit
  t.equal(code, 1)
  t.match(stderr, /^uffd-serve: warning: \d+ log lines were dropped: the log write failed \(ENOSPC\)\nuffd-serve: criu restore closed lazy-pages.socket after 1 of 1 tasks[^\n]*\n$/)
})

for (const daemon of [false, true]) {
  t.test(`${daemon ? '-d: ' : ''}a symlink planted at the pid file path is refused before anything starts, its target untouched`, async (t) => {
    const dir = tmpDir(t)
    writeImages(dir, { pid: PID, base: 0x7f0000000000, ...LAYOUT })
    const target = join(dir, 'precious')
    writeFileSync(target, 'precious\n')
    symlinkSync(target, join(dir, 'lazy.pid'))
    symlinkSync(join(dir, 'nothing-here'), join(dir, 'dangling.pid'))
    for (const [name, what] of [['lazy.pid', 'to a file'], ['dangling.pid', 'dangling']] as const) {
      const d = startDaemon(['-D', dir, '--pidfile', name, ...(daemon ? ['-d'] : [])])
      const ready = await d.ready
      if (ready) d.child.kill() // what the defect looked like: it went on and wrote through the symlink
      t.equal(ready, false, `${what}: never ready`)
      const { code, stderr } = await d.exit
      t.equal(code, 1, `${what}: exit 1`)
      t.equal(stderr, `uffd-serve: pid file ${join(dir, name)} already exists (a stale one, or a symlink): refused\n`, `${what}: one line`)
      t.ok(lstatSync(join(dir, name)).isSymbolicLink(), `${what}: the symlink is left as it was`)
      t.notOk(existsSync(join(dir, 'lazy-pages.socket')), `${what}: nothing listens`)
    }
    t.equal(readFileSync(target, 'utf8'), 'precious\n', 'the target keeps its contents')
    t.notOk(existsSync(join(dir, 'nothing-here')), 'the dangling target was not created')
  })
}

t.test('a symlink planted at the log path is refused, its target untouched; a real log is truncated, mode 0600', async (t) => {
  const dir = tmpDir(t)
  writeImages(dir, { pid: PID, base: 0x7f0000000000, ...LAYOUT })
  const target = join(dir, 'precious')
  writeFileSync(target, 'precious\n')
  symlinkSync(target, join(dir, 'lazy-pages.log'))
  const d = startDaemon(['-D', dir, '-o', 'lazy-pages.log', '-v4'])
  const ready = await d.ready
  if (ready) d.child.kill()
  t.equal(ready, false, 'never ready')
  const { code, stderr } = await d.exit
  t.equal(code, 1)
  t.equal(stderr, `uffd-serve: log file ${join(dir, 'lazy-pages.log')} is a symlink: refused, not followed\n`)
  t.equal(readFileSync(target, 'utf8'), 'precious\n', 'the target keeps its contents')
  t.notOk(existsSync(join(dir, 'lazy-pages.socket')), 'nothing listens')

  writeFileSync(join(dir, 'old.log'), 'an earlier run\n'.repeat(100))
  const task = lazyTask(t)
  writeImages(dir, { pid: PID, base: task.base, ...LAYOUT })
  const d2 = startDaemon(['-D', dir, '-o', 'old.log', '-v4'])
  t.equal(await d2.ready, true)
  const log = readFileSync(join(dir, 'old.log'), 'utf8')
  t.notMatch(log, 'an earlier run', 'truncated, as CRIU does')
  new RestoreSim(dir).close()
  t.equal((await d2.exit).code, 1)
  const d3 = startDaemon(['-D', dir, '-o', 'new.log'])
  t.equal(await d3.ready, true)
  t.equal(statSync(join(dir, 'new.log')).mode & 0o777, 0o600, 'a new log is mode 0600')
  new RestoreSim(dir).close()
  t.equal((await d3.exit).code, 1)
})
