// The entry of every pool thread. It loads the pool's handler module, then runs each job it is
// sent: results go into the shared slot, the slot's state flips to DONE (or FAILED with the
// message in the slot's output), and one byte on the notify pipe wakes the main thread, which
// sits in poll(2), not in an event loop. Every failure, even of loading the handler, becomes a
// FAILED job: an error the main thread never hears of would hang it.
import { parentPort, workerData } from 'node:worker_threads'
import { writeSync } from 'node:fs'
import { BUSY, CONTROL_INTS, DONE, FAILED, slotViews, type PoolMemory } from './layout.js'
import type { JobHandler } from './handler.js'

interface WorkerData { memory: PoolMemory; handler: string; init: unknown; notifyFd: number }
const { memory, handler: handlerUrl, init, notifyFd } = workerData as WorkerData
const control = new Int32Array(memory.control)
const slots = slotViews(memory)
const WAKE = Buffer.from([1])

const ready: Promise<JobHandler<unknown>> = import(handlerUrl).then(m => m.createHandler(init))
ready.catch(() => { /* reported with each job */ })

parentPort!.on('message', (job: { slot: number; params: unknown }) => {
  ready.then(run => finish(job.slot, () => run(slots[job.slot]!, job.params)),
    (e: unknown) => finish(job.slot, () => { throw new Error(`worker could not load ${handlerUrl}: ${(e as Error).message}`) }))
})

function finish(index: number, work: () => void): void {
  const slot = slots[index]!
  let state = DONE
  try {
    if (Atomics.load(control, index * CONTROL_INTS) !== BUSY) throw new Error(`internal: slot ${index} is not busy`)
    work()
  } catch (e) {
    state = FAILED
    const text = Buffer.from(e instanceof Error ? e.message : String(e))
    const n = text.copy(slot.output, 0, 0, Math.min(text.length, slot.output.length))
    Atomics.store(control, index * CONTROL_INTS + 1, n)
  }
  Atomics.store(control, index * CONTROL_INTS, state)
  writeSync(notifyFd, WAKE)
}
