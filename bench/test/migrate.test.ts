// The migrate benchmark's readings of img-migrate and of the workload: the modes from --help
// (whatever img-migrate adds later), the dirty rate the workload kept up, from its log, what auto
// ran as, and the workload: init of a pid namespace of its own (a lazy restore needs its pids).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { achievedRate, autoLabel, migrateChart, modesOf, workloadInNs } from '../src/benchmarks/migrate.js'

t.test('the --mode choices from img-migrate --help, baseline first and auto last', async (t) => {
  const help = [
    'img-migrate -t PID --to CMD [--mode full|precopy]',
    '',
    'Options:',
    '      --to           the command that runs the destination half                        [string]',
    '      --mode         full: one checkpoint; precopy: rounds while it runs, then a final one [default:',
    '                     precopy]    [string] [choices: "auto", "full", "precopy", "postcopy", "hybrid"]',
    '      --compress     none|lz4|zstd [choices: "x"]',
  ].join('\n')
  t.same(modesOf(help), ['full', 'precopy', 'postcopy', 'hybrid', 'auto'])
  t.same(modesOf(help.replace('"hybrid"]', '"hybrid", "teleport"]')), ['full', 'precopy', 'postcopy', 'hybrid', 'auto', 'teleport'], 'a new mode goes last')
  t.same(modesOf('no such option'), [])
})

t.test('the achieved dirty rate: pages dirtied in the window, as % of all per second', async (t) => {
  const log = ['ready 1', 'dirtied 100 gen 1 t 1000', 'dirtied 100 gen 2 t 1100', 'dirtied 100 gen 3 t 2000', 'dirtied 999 gen 4 t 3000', 'verified 1000 ok'].join('\n')
  t.equal(achievedRate(log, 1000, 1000, 2000), 30, '300 of 1000 pages in 1 s')
  t.equal(achievedRate(log, 1000, 1050, 2050), 20, 'only the lines inside the window')
  t.ok(Number.isNaN(achievedRate(log, 1000, 2000, 2000)), 'an empty window has no rate')
})

t.test('what auto ran as: in the legend once, by rate where it differed, and in each row', async (t) => {
  t.equal(autoLabel({}), 'auto', 'nothing ran: plain auto')
  t.equal(autoLabel({ 1: ['postcopy'], 100: ['postcopy'] }), 'auto as postcopy')
  t.equal(autoLabel({ 100: ['postcopy'], 1: ['hybrid'] }), 'auto as hybrid at 1 %/s, postcopy at 100 %/s')
  t.equal(autoLabel({ 1: ['hybrid', 'postcopy'] }, 1), 'auto as hybrid/postcopy', 'runs that chose differently: both')
  t.equal(autoLabel({ 1: ['hybrid'] }, 100), 'auto', 'a rate it did not run at')
  const svg = migrateChart({ modes: ['full', 'auto'], notRun: {}, rates: [1, 100], size: '256 MiB', runs: 1, criu: '4.3', ranAs: { 1: ['hybrid'], 100: ['postcopy'] } },
    () => 1)
  t.match(svg, />auto as hybrid at 1 %\/s, postcopy at 100 %\/s</, 'the chart legend says it')
})

t.test('the workload is init of a pid namespace of its own, in the given network namespace', async (t) => {
  if (process.getuid?.() !== 0) return t.plan(0, 'needs root (namespaces)')
  const netns = `h18b2t${process.pid % 10000}`
  execFileSync('ip', ['netns', 'add', netns])
  t.teardown(() => { execFileSync('ip', ['netns', 'del', netns]) })
  const dir = mkdtempSync(join(tmpdir(), 'bench-migrate-ns-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const w = await workloadInNs(netns, dir, 4, 'dirty:10')
  t.teardown(() => w.kill())
  const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${w.pid}/status`, 'utf8'))![1]!.split(/\s+/)
  t.same([nspid.length, nspid.at(-1)], [2, '1'], `pid 1 of a pid namespace of its own (NSpid ${nspid.join(' ')})`)
  t.equal(readlinkSync(`/proc/${w.pid}/ns/net`), `net:[${statSync(`/run/netns/${netns}`).ino}]`, 'in the network namespace given')
  t.equal(await w.verify(), `verified ${(4 << 20) / 4096} ok`, 'ready, its memory verifiable')
  w.kill()
  await w.exited
  t.notOk(w.alive(), 'kill ends it')
})
