// Proves the harness against real CRIU: a plain dump (tasks are killed) and a plain restore
// bring a 64 MiB workload back with its memory intact, and it keeps running.
import t from 'tap'
import { mkdirSync, openSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import {
  needCriu, runCriu, startRestore, startWorkload, tmpDir, workloadFromPid, procStat, sleep,
  type WorkloadMode,
} from '../lib/index.js'

const MIB = 64
const NPAGES = (MIB << 20) / 4096

for (const mode of ['plain', 'events'] as WorkloadMode[]) {
  t.test(`${mode} workload: dump -t PID, restore, memory intact, keeps running`, async (t) => {
    if (!(await needCriu(t))) return
    const dir = tmpDir(t)
    const images = join(dir, 'images')
    mkdirSync(images)

    const w = await startWorkload({ mib: MIB, mode, dir })
    t.teardown(() => w.kill())
    await w.waitReady()
    // let the events mode run a few ticks (fork, DONTNEED, munmap/mmap, mremap) first
    if (mode === 'events') await sleep(700)
    t.equal(await w.verify(), `verified ${NPAGES} ok`, 'verified before the dump')

    await runCriu(['dump', '-t', String(w.pid), '-D', images])
    const ex = await w.exited
    t.equal(ex.signal, 'SIGKILL', 'criu dump kills the dumped tasks')

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

t.test('verify() catches corruption (written through /proc/PID/mem)', async (t) => {
  if (process.getuid?.() !== 0) return t.plan(0, 'needs root to write /proc/PID/mem')
  const dir = tmpDir(t)
  const w = await startWorkload({ mib: 8, dir })
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
