// The entry of every pool thread. It loads the pool's handler module, then runs each job it is
// sent: results go into the shared slot, the slot's state flips to DONE (or FAILED with the
// message in the slot's output), and one byte on the notify pipe wakes the main thread, which
// sits in poll(2), not in an event loop. Every failure, even of loading the handler, becomes a
// FAILED job: an error the main thread never hears of would hang it.
//
// A thread is never terminated from outside while it runs native code: a native module that is
// loading (koffi, the codecs) or working when its thread is torn down calls napi_throw on a dying
// isolate, and the whole process aborts. So the pool closes by message: the thread finishes what
// it is doing (a load, a job), runs nothing more, counts itself stopped in shared memory, and
// ends its own event loop; the main thread waits for that count before it goes on or exits.
import { parentPort, workerData } from 'node:worker_threads'
import { writeSync } from 'node:fs'
import { BUSY, CONTROL_INTS, DONE, FAILED, closingWord, loadedWord, slotViews, stoppedWord, type PoolMemory } from './layout.js'
import type { JobHandler } from './handler.js'

// `init` absent: it comes later, as the first message (WorkerPool.setInit).
interface WorkerData { memory: PoolMemory; handler: string; init?: unknown; notifyFd: number }
type Message = { slot: number; params: unknown } | { close: true } | { init: unknown }
const { memory, handler: handlerUrl, notifyFd } = workerData as WorkerData
const control = new Int32Array(memory.control)
const slots = slotViews(memory)
const WAKE = Buffer.from([1])
const closing = (): boolean => Atomics.load(control, closingWord(memory.slots)) !== 0

let stopped = false
function stop(): void {
  if (stopped) return
  stopped = true
  parentPort!.close()
  Atomics.add(control, stoppedWord(memory.slots), 1)
  Atomics.notify(control, stoppedWord(memory.slots))
}
// A thread that dies of its own (an uncaught error) must not leave the main thread waiting.
process.on('exit', stop)

// The module is loaded at once; its factory runs once the init value is here.
let giveInit: ((init: unknown) => void) | null = null
const init: Promise<unknown> = 'init' in workerData ? Promise.resolve((workerData as WorkerData).init) : new Promise(resolve => { giveInit = resolve })
// Closed before this thread got to run: nothing is loaded at all.
const loading: Promise<{ createHandler: (init: unknown) => JobHandler<unknown> | Promise<JobHandler<unknown>> }> | null = closing() ? null : import(handlerUrl)
const ready: Promise<JobHandler<unknown>> | null = loading && loading.then(m => init.then(i => m.createHandler(i)))
if (!ready) stop()
// Counted loaded either way (a failure is reported with each job): the main thread waits for it.
else ready.catch(() => undefined).then(() => {
  Atomics.add(control, loadedWord(memory.slots), 1)
  Atomics.notify(control, loadedWord(memory.slots))
})

parentPort!.on('message', (m: Message) => {
  if (!ready) return
  if ('init' in m) { giveInit?.(m.init); giveInit = null; return }
  // Closed before the init value came (a stream that needed no decoding): only the module's
  // load is under way, and nothing else will come.
  if ('close' in m) { (giveInit ? loading! : ready).then(stop, stop); return }
  // Jobs queued behind a close are not run: nobody will take their results.
  ready.then(run => { if (!closing()) finish(m.slot, () => run(slots[m.slot]!, m.params)) },
    (e: unknown) => { if (!closing()) finish(m.slot, () => { throw new Error(`worker could not load ${handlerUrl}: ${(e as Error).message}`) }) })
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
