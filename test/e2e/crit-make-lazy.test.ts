// crit-make-lazy and the criu-image codec against real CRIU images: a 256 MiB memhog is dumped
// plainly; every image criu-pipes decodes is decoded (and re-encoded) as a check of the codec;
// crit-make-lazy shrinks the dump to a few hundred KB; `criu restore --lazy-pages` of the small
// dir, served by `criu lazy-pages` reading the full one, brings the workload back intact. Then
// the same dump with every pagemap re-encoded by encodePagemap (nr_pages in fields 2 AND 5)
// restores plainly: CRIU 4.1.1 ignores the 4.2 field as it should. Last, crit-make-lazy's
// output is compared with what `criu dump --lazy-pages` itself writes for the same process.
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { randomInt } from 'node:crypto'
import { join } from 'node:path'
import { execa } from 'execa'
import t, { type Test } from 'tap'
import {
  FILES_MAGIC,
  PE_LAZY,
  PE_PRESENT,
  decodeInventory,
  decodeMm,
  decodePagemap,
  decodePagemapRaw,
  decodePstree,
  encodeImage,
  encodePagemap,
  encodePagemapRaw,
  isLazyVma,
  pagesFileName,
  parseImage,
  presentBytes,
  remapTcpListenPorts,
} from '@criu-pipes/criu-image'
import {
  killGroup, needCriu, repoRoot, runCriu, spawnCriu, startRestore, startWorkload, tmpDir, waitFor, workloadFromPid, type Workload,
} from '../lib/index.js'

const MIB = 256
const NPAGES = (MIB << 20) / 4096
/** "A few hundred KB": CRIU's own lazy dumps of 64 MB to 1 GB workloads are 108-116 KB. */
const MAX_LAZY_DIR_BYTES = 1 << 20
const TASK_PAGEMAP = /^pagemap-\d+\.img$/
const BIN = join(repoRoot(), 'packages', 'crit-make-lazy', 'bin', 'crit-make-lazy.js')

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + (statSync(join(dir, f)).isFile() ? statSync(join(dir, f)).size : 0), 0)
}

function checkCodecOnRealImages(t: Test, src: string, pid: number): void {
  const read = (f: string): Buffer => readFileSync(join(src, f))
  t.equal(decodeInventory(read('inventory.img'), 'inventory.img').imgVersion, 2, 'inventory img_version 2')
  t.same(decodePstree(read('pstree.img')).map((p) => p.pid), [pid], 'pstree: the workload')
  const mm = decodeMm(read(`mm-${pid}.img`))
  t.ok(mm.vmas.some((v) => isLazyVma(v) && v.end - v.start >= MIB << 20), 'mm: the 256 MiB private anonymous VMA is lazy-able')
  const files = read('files.img')
  t.same(encodeImage(parseImage(files, 'files.img', FILES_MAGIC)), files, 'files.img: parse/encode round trip')
  t.same(remapTcpListenPorts(files, new Map()), files, 'files.img: an empty TCP remap keeps every byte')
  for (const f of readdirSync(src).filter((n) => n.startsWith('pagemap-'))) {
    const buf = read(f)
    const raw = decodePagemapRaw(buf, f)
    t.same(encodePagemapRaw(raw.head, raw.messages), buf, `${f}: raw round trip is byte-exact`)
    t.same(decodePagemap(encodePagemap(raw)), { pagesId: raw.pagesId, entries: raw.entries }, `${f}: encodePagemap round trip`)
    t.equal(statSync(join(src, pagesFileName(raw.pagesId))).size, presentBytes(raw.entries), `${f}: pages file holds exactly the present pages`)
  }
}

async function dumpWorkload(t: Test, dir: string): Promise<{ w: Workload; src: string }> {
  const src = join(dir, 'src')
  mkdirSync(src)
  const w = await startWorkload({ mib: MIB, dir })
  t.teardown(() => w.kill())
  await w.waitReady()
  t.equal(await w.verify(), `verified ${NPAGES} ok`, 'verified before the dump')
  await runCriu(['dump', '-t', String(w.pid), '-D', src])
  await w.exited
  return { w, src }
}

t.test('crit-make-lazy on a real 256 MiB dump, restored lazily by real CRIU', async (t) => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const { w, src } = await dumpWorkload(t, dir)
  checkCodecOnRealImages(t, src, w.pid)

  const dst = join(dir, 'lazy')
  const made = await execa('node', [BIN, src, dst], { reject: false })
  t.equal(made.exitCode, 0, `crit-make-lazy exits 0 ${made.stderr}`)
  t.match(made.stdout, /^crit-make-lazy: \S+ [KMG]?B -> \S+ KB \(\d+ pages left for lazy restore\)$/)
  const lazyPages = Number(/\((\d+) pages left/.exec(made.stdout)?.[1])
  t.ok(lazyPages >= NPAGES, `${lazyPages} lazy pages cover the workload's ${NPAGES}`)
  const srcBytes = dirBytes(src)
  const dstBytes = dirBytes(dst)
  t.ok(dstBytes < MAX_LAZY_DIR_BYTES, `made-lazy dir is small: ${dstBytes} bytes (from ${srcBytes})`)
  t.comment(`sizes: SRC ${srcBytes} bytes, DST ${dstBytes} bytes; ${made.stdout}`)

  const pagemap = readdirSync(src).find((n) => TASK_PAGEMAP.test(n))!
  const before = decodePagemap(readFileSync(join(src, pagemap)))
  const after = decodePagemap(readFileSync(join(dst, pagemap)))
  const lazyPresent = PE_LAZY | PE_PRESENT
  t.same(
    after.entries,
    before.entries.map((e) => ((e.flags & lazyPresent) === lazyPresent ? { ...e, flags: e.flags & ~PE_PRESENT } : e)),
    'LAZY|PRESENT became LAZY, nothing else changed',
  )
  t.equal(statSync(join(dst, pagesFileName(after.pagesId))).size, presentBytes(after.entries), 'DST pages file matches its pagemap')

  // The daemon serves from the FULL images; restore reads the small ones. One shared work dir.
  const work = join(dir, 'work')
  mkdirSync(work)
  const daemon = spawnCriu(['lazy-pages', '-D', src, '-W', work])
  t.teardown(() => { daemon.child.kill('SIGKILL') })
  await waitFor('lazy-pages.socket', () => (existsSync(join(work, 'lazy-pages.socket')) ? true : undefined))
  const r = await startRestore(['-D', dst, '-W', work, '--lazy-pages'])
  t.teardown(() => r.kill())
  t.equal(r.pid, w.pid, 'same pid')
  const rw = workloadFromPid(r.pid, w.logPath)
  t.equal(await rw.verify(), `verified ${NPAGES} ok`, 'memory intact after the lazy restore')
  const d = await daemon.child
  t.equal(d.exitCode, 0, 'the lazy-pages daemon exits 0 once everything is transferred')
  const transferred = /UFFD transferred pages: \((\d+)\/(\d+)\)/.exec(readFileSync(daemon.logPath, 'utf8'))
  t.ok(transferred && transferred[1] === transferred[2], `daemon log: ${transferred?.[0]}`)
  t.ok(Number(transferred?.[2]) >= NPAGES, 'the workload came through the daemon')
  await r.kill()
  await rw.exited

  t.test('a pagemap written by encodePagemap (nr_pages in fields 2 and 5) restores with CRIU 4.1.1', async (t) => {
    const src5 = join(dir, 'src-field5')
    cpSync(src, src5, { recursive: true })
    for (const f of readdirSync(src5).filter((n) => n.startsWith('pagemap-'))) {
      const orig = readFileSync(join(src5, f))
      const rewritten = encodePagemap(decodePagemap(orig, f))
      t.not(rewritten.length, orig.length, `${f} now carries field 5`)
      writeFileSync(join(src5, f), rewritten)
    }
    const r5 = await startRestore(['-D', src5])
    t.teardown(() => r5.kill())
    const rw5 = workloadFromPid(r5.pid, w.logPath)
    t.equal(await rw5.verify(), `verified ${NPAGES} ok`, 'memory intact after a plain restore')
    await r5.kill()
    await rw5.exited
  })
})

/** Any free TCP port will do for a page server nobody connects to; a clash only fails the run. */
const PAGE_SERVER_PORTS = [20000, 60000] as const

t.test('crit-make-lazy writes what `criu dump --lazy-pages` writes', async (t) => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  // A process whose memory does not change between the two dumps; a child of this test (so it
  // is reaped at once) and a session leader (so no --shell-job).
  const sleeper = execa('sleep', ['1000'], { detached: true, stdio: 'ignore', reject: false })
  const pid = sleeper.pid!
  t.teardown(() => killGroup(pid))

  // 1. The lazy dump writes its images, then waits for a lazy-pages client that never comes;
  //    killing it makes CRIU let the process run on, untouched.
  const lazy = join(dir, 'lazy-dump')
  mkdirSync(lazy)
  const port = randomInt(...PAGE_SERVER_PORTS)
  const dump = spawnCriu(['dump', '--lazy-pages', '--address', '127.0.0.1', '--port', String(port), '-t', String(pid), '-D', lazy])
  await waitFor('the lazy dump to start its page server', () => {
    if (existsSync(dump.logPath) && readFileSync(dump.logPath, 'utf8').includes('Starting lazy pages server')) return true
    return undefined
  }, { detail: () => readFileSync(dump.logPath, 'utf8').split('\n').slice(-10).join('\n') })
  dump.child.kill('SIGKILL')
  await dump.child
  await waitFor('the process to run again', () => (/^State:\s+[SR]/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')) ? true : undefined))

  // 2. A plain dump of the same process, made lazy.
  const plain = join(dir, 'plain')
  mkdirSync(plain)
  await runCriu(['dump', '-t', String(pid), '-D', plain])
  await sleeper
  const made = join(dir, 'made-lazy')
  const r = await execa('node', [BIN, plain, made], { reject: false })
  t.equal(r.exitCode, 0, `crit-make-lazy exits 0 ${r.stderr}`)

  const pagemap = `pagemap-${pid}.img`
  const want = decodePagemap(readFileSync(join(lazy, pagemap)))
  t.ok(want.entries.some((e) => e.flags === PE_LAZY), 'the lazy dump has LAZY entries')
  t.same(readFileSync(join(made, pagemap)), readFileSync(join(lazy, pagemap)), `${pagemap} is byte-identical`)
  const pages = pagesFileName(want.pagesId)
  t.same(readFileSync(join(made, pages)), readFileSync(join(lazy, pages)), `${pages} is byte-identical`)
})
