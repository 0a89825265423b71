// The recorder: a contender renamed once its runs tell what it was keeps its row, place and values.
import t from 'tap'
import { Recorder } from '../src/report.js'

t.test('rename keeps the row where it was, with its values', async (t) => {
  const r = new Recorder(1)
  r.add('full, 1 %/s', 0, 'downtime', 'downtime', 's', 2)
  r.add('auto, 1 %/s', 0, 'downtime', 'downtime', 's', 0.25)
  r.add('hybrid, 1 %/s', 0, 'downtime', 'downtime', 's', 0.3)
  r.rename('auto, 1 %/s', 'auto as hybrid, 1 %/s')
  r.rename('no such row', 'x')
  t.same(r.result().map((c) => c.name), ['full, 1 %/s', 'auto as hybrid, 1 %/s', 'hybrid, 1 %/s'])
  t.equal(r.median('auto as hybrid, 1 %/s', 'downtime'), 0.25)
  t.ok(Number.isNaN(r.median('auto, 1 %/s', 'downtime')), 'the old name is gone')
})
