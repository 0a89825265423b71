import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { WorkerPool, WorkerJobError } from '../src/index.js'

const handler = new URL('./fixtures/xor-handler.js', import.meta.url).href

// The main thread never yields to its event loop between submit and result, as in the binaries.
function runAll(pool: WorkerPool<{ length: number; fail?: string; spinMs?: number }>, jobs: number) {
  const order: number[] = []
  const queue: { slot: NonNullable<ReturnType<typeof pool.acquire>>; job: number }[] = []
  let next = 0
  while (order.length < jobs) {
    let slot
    while (next < jobs && (slot = pool.acquire())) {
      slot.input.fill(next & 0xff, 0, 1000)
      pool.submit(slot, { length: 1000, spinMs: next % 3 === 0 ? 5 : 0 })
      queue.push({ slot, job: next++ })
    }
    const head = queue[0]!
    if (!pool.done(head.slot)) { pool.wait(); continue }
    queue.shift()
    if (head.slot.output[999] !== ((head.job & 0xff) ^ 0x5a) || head.slot.meta.readUInt32LE(0) !== 1000) throw new Error(`job ${head.job}: wrong output`)
    order.push(head.job)
    pool.release(head.slot)
  }
  return order
}

t.test('jobs run on the workers and come back in submission order from a blocking main loop', t => {
  const pool = new WorkerPool<{ length: number; spinMs?: number }>({ handler, init: { key: 0x5a }, threads: 2, slots: 4, inputBytes: 4096, outputBytes: 4096 })
  t.equal(pool.memoryBytes, 4 * 8192 + 4 * 64 + 4 * 8 + 12)
  const order = runAll(pool, 50)
  t.same(order, Array.from({ length: 50 }, (_, i) => i))
  t.equal(pool.available, 4, 'every slot back')
  pool.close()
  t.end()
})

t.test('a pool started without its init value loads now and runs jobs with the value handed over later', t => {
  const pool = new WorkerPool<{ length: number; spinMs?: number }>({ handler, threads: 2, slots: 4, inputBytes: 4096, outputBytes: 4096 })
  t.throws(() => pool.submit(pool.slots[0]!, { length: 1 }), /before the pool has its init value/, 'no job before the value')
  pool.setInit({ key: 0x5a })
  t.throws(() => pool.setInit({ key: 1 }), /already has its init value/, 'given once')
  t.same(runAll(pool, 20), Array.from({ length: 20 }, (_, i) => i), 'every job XORed with the key given later')
  pool.close()
  t.end()
})

t.test('a pool let go before its init value came stops on its own; close() then returns at once', t => {
  const pool = new WorkerPool<{ length: number }>({ handler, threads: 2, slots: 2, inputBytes: 64, outputBytes: 64 })
  pool.letGo()
  t.throws(() => pool.submit(pool.slots[0]!, { length: 1 }), /before the pool has its init value|closed pool/)
  pool.close()
  t.pass('closed')
  t.end()
})

t.test('a job that throws fails with its message; a handler that cannot load fails every job', t => {
  const pool = new WorkerPool<{ length: number; fail?: string }>({ handler, init: { key: 1 }, threads: 1, slots: 1, inputBytes: 16, outputBytes: 64 })
  const slot = pool.acquire()!
  t.equal(pool.acquire(), null, 'the pool is fixed')
  pool.submit(slot, { length: 1, fail: 'boom on purpose' })
  while (!((): boolean => { try { return pool.done(slot) } catch (e) { t.type(e, WorkerJobError); t.equal((e as Error).message, 'boom on purpose'); return true } })()) pool.wait()
  pool.release(slot)
  pool.close()
  const broken = new WorkerPool<{ length: number }>({ handler: new URL('./fixtures/missing.js', import.meta.url).href, init: {}, threads: 1, slots: 1, inputBytes: 16, outputBytes: 256 })
  const s = broken.acquire()!
  broken.submit(s, { length: 1 })
  let err: unknown = null
  while (!err) { try { if (broken.done(s)) break } catch (e) { err = e } if (!err) broken.wait() }
  t.match((err as Error).message, /worker could not load/)
  broken.close()
  t.end()
})

t.test('a process that exits right after starting a pool never aborts, whatever its threads were doing', async t => {
  // Hundreds of short lives: the threads are caught booting, loading a native module, or running.
  const script = new URL('./fixtures/exit-early.js', import.meta.url).pathname
  const cases: [number, string, number][] = []
  for (let i = 0; i < 40; i++) for (const threads of [1, 2, 4]) cases.push([threads, ['close', 'exit', 'job'][i % 3]!, i % 50])
  const failures: string[] = []
  let next = 0
  const runner = async (): Promise<void> => {
    while (next < cases.length) {
      const [threads, mode, delayMs] = cases[next++]!
      // Through env(1), without the test runner's loader: tap puts it back into NODE_OPTIONS of
      // every child it sees spawned, and it triples each start.
      const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, script, String(threads), mode, String(delayMs)], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => { stderr += d })
      const [status, signal] = await once(child, 'close') as [number | null, string | null]
      if (status !== 0) failures.push(`threads ${threads} ${mode} after ${delayMs} ms: status ${status} signal ${signal} ${stderr.split('\n')[0]}`)
    }
  }
  await Promise.all([runner(), runner()])
  t.same(failures, [], `every one of ${cases.length} exited 0`)
})
