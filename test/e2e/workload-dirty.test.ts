// memhog's dirty:PCT mode (the migration benchmark's workload): it dirties its pages by itself,
// generation after generation, every page still verifiable; a real CRIU dump and restore brings
// the stamps of every generation back, and the restored process goes on dirtying.
import t from 'tap'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { needCriu, runCriu, startRestore, startWorkload, tmpDir, waitFor, workloadFromPid, type Workload, type WorkloadMemory } from '../lib/index.js'

const MIB = 16
const NPAGES = (MIB << 20) / 4096
/** 100 % a second in memhog's 10 generations a second: each dirties about 10 % of the pages. */
const MODE = 'dirty:100'
const PER_GEN = NPAGES / 10

interface Gen { pages: number; gen: number; tMs: number }

function gens(w: Workload): Gen[] {
  return [...w.log().matchAll(/^dirtied (\d+) gen (\d+) t (\d+)$/gm)].map(m => ({ pages: Number(m[1]), gen: Number(m[2]), tMs: Number(m[3]) }))
}

async function untilGen(w: Workload, g: number): Promise<Gen[]> {
  return waitFor(`memhog ${w.pid} to log 'dirtied ... gen ${g}'`, () => {
    const all = gens(w)
    return all.some(x => x.gen >= g) ? all : undefined
  }, { timeoutMs: 30_000 })
}

for (const memory of ['pattern', 'mixed'] as WorkloadMemory[]) {
  t.test(`${MODE}, ${memory} memory: dirties by itself, verifiable; dump and restore keep every stamp, and it goes on`, async t => {
    if (!(await needCriu(t))) return
    const dir = tmpDir(t)
    const images = join(dir, 'images')
    mkdirSync(images)
    const w = await startWorkload({ mib: MIB, mode: MODE, memory, dir })
    t.teardown(() => w.kill())
    await w.waitReady()
    const before = await untilGen(w, 5)
    t.same(before.map(x => x.gen), before.map((_, i) => i + 1), 'one generation after the other')
    for (const x of before) t.ok(x.pages > PER_GEN / 2 && x.pages < PER_GEN * 2, `generation ${x.gen} dirtied about 10 % of the pages (${x.pages} of ${NPAGES})`)
    t.ok(before.every((x, i) => i === 0 || x.tMs >= before[i - 1]!.tMs), 'stamped with a clock that does not go back')
    t.equal(await w.verify(), `verified ${NPAGES} ok`, 'every page, stamps included, verified while it dirties')

    await runCriu(['dump', '-t', String(w.pid), '-D', images])
    await w.exited
    const dumped = Math.max(...gens(w).map(x => x.gen))
    const r = await startRestore(['-D', images])
    t.teardown(() => r.kill())
    const rw = workloadFromPid(r.pid, w.logPath)
    t.equal(await rw.verify(), `verified ${NPAGES} ok`, 'memory intact after restore')
    await untilGen(rw, dumped + 3)
    t.pass(`the restored process goes on dirtying (past generation ${dumped})`)
    t.equal(await rw.verify(), `verified ${NPAGES} ok`, 'and every page still verifies')
    await r.kill()
  })
}
