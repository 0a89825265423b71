// The migrate benchmark's readings of img-migrate and of the workload: the modes from --help
// (whatever img-migrate adds later), and the dirty rate the workload kept up, from its log.
import t from 'tap'
import { achievedRate, modesOf } from '../src/benchmarks/migrate.js'

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
