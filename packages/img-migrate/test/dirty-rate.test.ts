import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { sampleDirtyRate, treeOf } from '../src/dirty-rate.js'

/** A node process holding 64 MiB; `rewrite`: every page gets a new byte every 20 ms. */
async function holder(t: Test, rewrite: boolean): Promise<number> {
  const body = `const b = Buffer.alloc(64 << 20, 1); let g = 0
    setInterval(() => { g++; if (${rewrite}) for (let i = 0; i < b.length; i += 4096) b[i] = g & 255 }, 20)
    process.stdout.write('ready\\n')`
  const child = spawn(process.execPath, ['-e', body], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  await once(child.stdout!, 'data')
  return child.pid!
}

t.test('memory rewritten all the time shows a high rate, memory left alone a low one', async t => {
  const busy = await sampleDirtyRate(await holder(t, true), 512, 300)
  t.ok(busy.pages > 400, `pages sampled: ${busy.pages}`)
  t.ok(busy.perSecond > 1, `busy: ${JSON.stringify(busy)}`)
  t.ok(busy.residentBytes > 60 << 20, 'the resident estimate covers the 64 MiB')
  const idle = await sampleDirtyRate(await holder(t, false), 512, 300)
  t.ok(idle.perSecond < 0.5, `idle: ${JSON.stringify(idle)}`)
})

t.test('the tree is the process and its descendants', async t => {
  t.same(treeOf(process.pid).slice(0, 1), [process.pid])
  t.same(treeOf(2 ** 22 + 1), [2 ** 22 + 1], 'a pid that does not exist: itself only')
})
