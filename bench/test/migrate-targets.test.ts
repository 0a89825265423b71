// Issue 18's targets from the medians of a migrate run: PASS and MISS at the bounds, the best fixed
// mode picked by downtime among those that ran, and a mode that did not run shown as a MISS
// without a value, saying why.
import t from 'tap'
import { LIMITS, bestFixed, migrateTargets, type Figures, type MigrateMedians } from '../src/lib/migrate-targets.js'

type Table = Record<string, Record<number, Figures>>

function medians(table: Table, notRun: Record<string, string> = {}, hybridDouble?: Figures): MigrateMedians {
  return { rates: [1, 10], size: '2 GiB', doubleSize: '4 GiB', notRun, hybridDouble, at: (mode, rate) => table[mode]?.[rate] }
}

const f = (downtimeS: number, totalS: number): Figures => ({ downtimeS, totalS })
const byName = (targets: ReturnType<typeof migrateTargets>, re: RegExp) => targets.filter((x) => re.test(x.name))

t.test('hybrid: against full, its own double size and pre-copy, at the bounds', async (t) => {
  const table: Table = {
    full: { 1: f(10, 11), 10: f(10, 11) },
    precopy: { 1: f(2, 20), 10: f(5, 30) },
    hybrid: { 1: f(1, 25), 10: f(1.5, 30) }, // 0.1 x full's downtime, 1.25 x pre-copy's total: both on the bound
  }
  const targets = migrateTargets(medians(table, {}, f(1.25, 50)))
  const [vsFull, size, total] = byName(targets, /^hybrid/)
  t.match(vsFull, { name: 'hybrid at 1 %/s, 2 GiB: downtime / full\'s', value: 0.1, op: '<=', target: LIMITS.hybridVsFull, pass: true })
  t.match(size, { name: 'hybrid at 1 %/s: downtime at 4 GiB / at 2 GiB', value: 1.25, pass: true })
  t.match(total, { value: 1.25, target: LIMITS.hybridVsPrecopyTotal, pass: true })
  const worse = migrateTargets(medians({ ...table, hybrid: { 1: f(1.01, 25.1), 10: f(1.5, 30) } }, {}, f(1.3, 50)))
  t.same(byName(worse, /^hybrid/).map((x) => x.pass), [false, false, false], 'just above each bound: MISS')
})

t.test('auto: against the fixed mode with the shortest downtime at each rate, and that mode\'s total', async (t) => {
  const table: Table = {
    full: { 1: f(10, 11), 10: f(10, 11) },
    precopy: { 1: f(2, 20), 10: f(12, 40) },
    hybrid: { 1: f(1, 25), 10: f(3, 30) },
    auto: { 1: f(1.1, 30), 10: f(3.4, 30) },
  }
  const m = medians(table)
  t.equal(bestFixed(m, 1)?.mode, 'hybrid')
  t.equal(bestFixed(m, 10)?.mode, 'hybrid')
  t.equal(bestFixed(medians({ ...table, hybrid: { 1: f(1, 25), 10: f(11, 30) } }), 10)?.mode, 'full', 'the fastest at that rate, whichever it is')
  const autoT = byName(migrateTargets(m), /^auto/)
  t.equal(autoT.length, 4, 'downtime and total at each rate')
  t.match(autoT[0], { name: 'auto at 1 %/s: downtime / the best fixed mode\'s', pass: true, note: 'best fixed mode: hybrid' })
  t.ok(Math.abs(autoT[0]!.value - 1.1) < 1e-9)
  t.match(autoT[1], { name: 'auto at 1 %/s: total time / that mode\'s', value: 1.2, pass: true })
  t.match(autoT[2], { pass: false }, 'at 10 %/s: 3.4 s against 3 s is above 1.1 x')
  t.match(autoT[3], { value: 1, pass: true })
})

t.test('a mode that did not run: its targets MISS without a value, saying why; the best fixed mode is of those that ran', async (t) => {
  const table: Table = { full: { 1: f(10, 11), 10: f(10, 11) }, precopy: { 1: f(2, 20), 10: f(12, 40) } }
  const notRun = { postcopy: 'not yet', hybrid: 'not yet', auto: 'not yet' }
  const targets = migrateTargets(medians(table, notRun))
  t.equal(targets.length, 3 + 4, 'every target is there')
  for (const x of targets) {
    t.ok(Number.isNaN(x.value) && !x.pass, `${x.name}: no value, MISS`)
    t.match(x.note, /(hybrid|auto): not yet/, 'says which mode did not run')
  }
  t.equal(bestFixed(medians(table, notRun), 10)?.mode, 'full')
  const withAuto = migrateTargets(medians({ ...table, auto: { 1: f(2, 20), 10: f(10, 11) } }, { postcopy: 'not yet', hybrid: 'not yet' }))
  t.match(byName(withAuto, /^auto/)[0], { pass: true, note: 'best fixed mode: precopy (of those that ran; not run: postcopy, hybrid)' })
})

t.test('no hybrid targets when 1 %/s is not among the rates', async (t) => {
  const m = { ...medians({ full: { 10: f(10, 11) } }), rates: [10] }
  t.same(byName(migrateTargets(m), /^hybrid/), [])
})
