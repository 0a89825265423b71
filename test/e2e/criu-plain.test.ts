// Proves the harness against real CRIU: a plain dump (tasks are killed) and a plain restore
// bring a 64 MiB workload back with its memory intact, and it keeps running.
import t from 'tap'
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, writeSync } from 'node:fs'
import { deflateRawSync } from 'node:zlib'
import { join } from 'node:path'
import {
  needCriu, runCriu, startRestore, startWorkload, tmpDir, workloadFromPid, procStat, sleep,
  type WorkloadMemory, type WorkloadMode,
} from '../lib/index.js'

const MIB = 64
const NPAGES = (MIB << 20) / 4096

/** deflate level 1 output / input over the dump's pages-*.img (the page data) */
function deflatedRatio(images: string): number {
  let raw = 0
  let packed = 0
  for (const f of readdirSync(images).filter((n) => /^pages-\d+\.img$/.test(n))) {
    const data = readFileSync(join(images, f))
    raw += data.length
    packed += deflateRawSync(data, { level: 1 }).length
  }
  if (raw < NPAGES * 4096) throw new Error(`${images}: only ${raw} bytes of pages, expected ${NPAGES * 4096} or more`)
  return packed / raw
}
const pct = (r: number) => `${(100 * r).toFixed(1)} %`

const VARIANTS: [WorkloadMode, WorkloadMemory][] = [['plain', 'pattern'], ['events', 'pattern'], ['plain', 'mixed'], ['events', 'mixed']]

for (const [mode, memory] of VARIANTS) {
  t.test(`${mode} workload, ${memory} memory: dump -t PID, restore, memory intact, keeps running`, async (t) => {
    if (!(await needCriu(t))) return
    const dir = tmpDir(t)
    const images = join(dir, 'images')
    mkdirSync(images)

    const w = await startWorkload({ mib: MIB, mode, memory, dir })
    t.teardown(() => w.kill())
    await w.waitReady()
    // let the events mode run a few ticks (fork, DONTNEED, munmap/mmap, mremap) first
    if (mode === 'events') await sleep(700)
    t.equal(await w.verify(), `verified ${NPAGES} ok`, 'verified before the dump')

    await runCriu(['dump', '-t', String(w.pid), '-D', images])
    const ex = await w.exited
    t.equal(ex.signal, 'SIGKILL', 'criu dump kills the dumped tasks')
    const ratio = deflatedRatio(images)
    if (memory === 'mixed') t.ok(ratio < 0.3, `mixed memory compresses like a heap: deflate -1 makes the pages ${pct(ratio)}`)
    else t.ok(ratio > 0.99, `pattern memory does not compress: deflate -1 leaves the pages at ${pct(ratio)}`)

    const r = await startRestore(['-D', images])
    t.teardown(() => r.kill())
    t.equal(r.pid, w.pid, 'same pid')
    t.equal(procStat(r.pid)?.ppid, r.criu.pid, 'criu restore (no -d) is the parent of the restored task')

    const rw = workloadFromPid(r.pid, w.logPath)
    t.ok(rw.alive(), 'restored workload is running')
    t.equal(await rw.verify(), `verified ${NPAGES} ok`, 'memory intact after restore')
    // keep running: more ticks (events included), then a new verified line
    await sleep(mode === 'events' ? 700 : 300)
    t.equal(await rw.verify(), `verified ${NPAGES} ok`, 'still intact and running after more ticks')
    t.notMatch(rw.log(), /CORRUPT|error/, 'no corruption or error logged')

    const res = await r.kill()
    t.notOk(res.timedOut, 'criu restore exited after its restored task was killed')
    await rw.exited
  })
}

for (const memory of ['pattern', 'mixed'] as WorkloadMemory[]) t.test(`verify() catches corruption of ${memory} memory (written through /proc/PID/mem)`, async (t) => {
  if (process.getuid?.() !== 0) return t.plan(0, 'needs root to write /proc/PID/mem')
  const dir = tmpDir(t)
  const w = await startWorkload({ mib: 8, memory, dir })
  t.teardown(() => w.kill())
  await w.waitReady()
  const map = w.map()
  t.ok(map, 'the workload logs where its memory is')
  const page = 1000
  const fd = openSync(`/proc/${w.pid}/mem`, 'r+')
  try {
    writeSync(fd, Buffer.alloc(8, 0xa5), 0, 8, Number(map!.addr) + page * 4096 + 64)
  } finally {
    closeSync(fd)
  }
  await t.rejects(w.verify(), new RegExp(`CORRUPT page ${page}\\b`))
  const ex = await w.exited
  t.equal(ex.exitCode, 3, 'memhog exits 3 on corruption')
})
