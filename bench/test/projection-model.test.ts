// The paper model of the seed's machine: the slowest stage sets the time, and auto settles on the
// mix of neighbouring rungs that balances the CPUs against the link.
import t from 'tap'
import { STORED, project, projectAuto, type Costs, type Machine } from '../src/lib/projection-model.js'

const machine: Machine = { bytes: 128e9, cpus: 16, linkBps: 2e9 }
const near = (a: number, b: number) => Math.abs(a - b) < 1e-9
const costs: Costs = { criuCpuPerGB: 0.1, splitCpuPerGB: 0.05, workerEfficiency: 0.8 }

t.test('uncompressed: the link takes stored bytes at its rate', async (t) => {
  const p = project(machine, costs, STORED)
  t.equal(p.limit, 'link')
  t.equal(p.seconds, 64)
  t.equal(p.stages.CRIU, 128 * 0.1)
  t.equal(p.stages['img-split main'], 128 * 0.05)
  t.ok(near(p.stages.CPUs, (128 * 0.15) / 16), 'CRIU and img-split share the CPUs')
})

t.test('a slow codec is limited by the CPUs, shared by every stage, its workers at their efficiency', async (t) => {
  const p = project(machine, costs, { name: 'slow', cpuPerGB: 4, ratio: 0.2 })
  t.equal(p.limit, 'CPUs')
  t.ok(near(p.seconds, (128 * (0.1 + 0.05 + 4 / 0.8)) / 16), `${p.seconds} s`)
  t.ok(near(p.stages.link, 12.8), 'stored bytes over the link')
})

t.test('a single-threaded stage limits when it is the slowest', async (t) => {
  const p = project(machine, { ...costs, criuCpuPerGB: 1 }, STORED)
  t.equal(p.limit, 'CRIU')
  t.equal(p.seconds, 128)
})

t.test('auto: the best mix of two neighbouring rungs, sample paid on every chunk', async (t) => {
  const ladder = [STORED, { name: 'fast', cpuPerGB: 1, ratio: 0.3 }, { name: 'dense', cpuPerGB: 8, ratio: 0.1 }]
  const p = projectAuto(machine, costs, ladder, 0)
  const each = [STORED, ...ladder.slice(1)].map(c => project(machine, costs, c).seconds)
  t.ok(p.seconds <= Math.min(...each), `no slower than any single rung (${p.seconds} vs ${each.join(', ')})`)
  // fast alone: CPUs 11.2 s, link 19.2 s; adding dense chunks trades link for CPUs until they meet
  t.match(p.codec, /% fast \+ .*% dense/)
  t.ok(Math.abs(p.stages.CPUs - p.stages.link) < 1, `CPUs and link balanced (${p.stages.CPUs}, ${p.stages.link})`)
  const sampled = projectAuto(machine, costs, ladder, 0.5)
  t.ok(sampled.seconds > p.seconds, 'the sample costs CPU')
  t.throws(() => projectAuto(machine, costs, [STORED], 0), /two rungs/)
  // when CRIU limits, auto still balances what it chooses between: the CPUs and the link
  const slowCriu = projectAuto(machine, { ...costs, criuCpuPerGB: 1 }, ladder, 0)
  t.equal(slowCriu.limit, 'CRIU')
  t.ok(Math.abs(slowCriu.stages.CPUs - slowCriu.stages.link) < 1, `CPUs and link balanced (${slowCriu.stages.CPUs}, ${slowCriu.stages.link})`)
})
