// THE worker pool: a fixed set of worker_threads over a fixed set of chunk buffers in shared
// memory, driven from a synchronous main thread. The binaries' main loops are poll(2) loops over
// CRIU's socket and pipes, never yielding to Node's event loop; so jobs go out by postMessage
// (delivered without the sender's event loop) and come back through shared memory plus one byte
// on a notify pipe, whose read end the main loop can poll with its other fds. Memory is what
// the constructor allocates, slots x (input + output), and never grows with the work.
import { Worker } from 'node:worker_threads'
import { O_CLOEXEC, O_NONBLOCK, POLLIN, closeQuietly, makePipe, poll, readSome } from '@criu-pipes/sys'
import { BUSY, CONTROL_INTS, DONE, FAILED, FREE, allocate, closingWord, loadedWord, slotViews, stoppedWord, type PoolMemory, type Slot } from './layout.js'

// How long close() waits for the threads to stop. A thread stops once its handler has loaded and
// its current job is done: well under a second even on a loaded machine. Past this a thread is
// taken for hung and terminated (which can abort the process if it is inside a native call: the
// lesser evil than hanging forever).
const STOP_TIMEOUT_MS = 30_000
// How long waitReady() waits at most: past it the caller goes on, and jobs wait for the load.
const READY_TIMEOUT_MS = 30_000

// Every pool still open, closed on any exit: process.exit() tears the threads down, and one
// still loading or running native code would abort the process (worker-main.ts).
const open = new Set<WorkerPool<never>>()
process.on('exit', () => { for (const p of open) p.close() })

export interface PoolOptions<I> {
  /** URL of the handler module (see handler.ts), e.g. `new URL('./my-handler.js', import.meta.url).href`. */
  handler: string
  /**
   * Given to the handler's factory in each worker (structured-cloned). Omitted: the threads start
   * now and load the handler module, and its factory runs once setInit() hands the value over (a
   * caller that learns it later, from a stream's header, need not wait for the threads then).
   */
  init?: I
  threads: number
  slots: number
  inputBytes: number
  outputBytes: number
}

/** A job that threw in its worker; the message is the worker's. */
export class WorkerJobError extends Error {
  override name = 'WorkerJobError'
}

export class WorkerPool<P = unknown> {
  readonly threads: number
  readonly slots: readonly Slot[]
  /** Bytes of shared memory the pool holds, fixed at construction. */
  readonly memoryBytes: number
  /** Readable when some job has finished since the last wait()/drainNotify(): poll it with your own fds. */
  readonly notifyFd: number
  private readonly notifyWrite: number
  private readonly control: Int32Array
  private readonly workers: Worker[]
  private readonly load: number[]
  private readonly owner: number[]
  private readonly free: number[]
  private readonly scratch = Buffer.alloc(256)
  private readonly slotCount: number
  private closed = false
  private initGiven: boolean
  private letGoDone = false

  constructor(opts: PoolOptions<unknown>) {
    if (opts.threads < 1 || opts.slots < 1) throw new Error('a worker pool needs at least one thread and one slot')
    const memory: PoolMemory = allocate(opts.slots, opts.inputBytes, opts.outputBytes)
    this.memoryBytes = memory.data.byteLength + memory.meta.byteLength + memory.control.byteLength
    this.control = new Int32Array(memory.control)
    this.slotCount = opts.slots
    this.slots = slotViews(memory)
    this.free = this.slots.map(s => s.index).reverse()
    this.owner = this.slots.map(() => -1)
    // Non-blocking read end: drained without waiting. The write end blocks, which never happens:
    // at most one byte per slot is ever unread, far below a pipe's capacity.
    ;[this.notifyFd, this.notifyWrite] = makePipe(O_CLOEXEC | O_NONBLOCK)
    this.threads = opts.threads
    this.initGiven = 'init' in opts
    const workerData = { memory, handler: opts.handler, notifyFd: this.notifyWrite, ...(this.initGiven ? { init: opts.init } : {}) }
    this.workers = Array.from({ length: opts.threads }, () => {
      // execArgv: [] so a worker does not inherit the parent's loaders (a test runner's hooks
      // made each thread take a quarter of a second to start).
      const w = new Worker(new URL('./worker-main.js', import.meta.url), { workerData, execArgv: [] })
      w.unref()
      return w
    })
    this.load = this.workers.map(() => 0)
    open.add(this as WorkerPool<never>)
  }

  /** Slots neither submitted nor holding an unreleased result. */
  get available(): number { return this.free.length }

  /** A free slot, or null when every slot is in use (wait, or take results, and release). */
  acquire(): Slot | null {
    const i = this.free.pop()
    return i === undefined ? null : this.slots[i]!
  }

  /** The handler's init value, for a pool started without one (once, before the first job). */
  setInit(init: unknown): void {
    if (this.initGiven) throw new Error('internal: the pool already has its init value')
    this.initGiven = true
    for (const w of this.workers) w.postMessage({ init })
  }

  /** Hands the slot to the least loaded worker. */
  submit(slot: Slot, params: P): void {
    if (!this.initGiven) throw new Error('internal: a job submitted before the pool has its init value')
    if (this.letGoDone) throw new Error('internal: a job submitted to a closed pool')
    let w = 0
    for (let i = 1; i < this.load.length; i++) if (this.load[i]! < this.load[w]!) w = i
    this.load[w]!++
    this.owner[slot.index] = w
    Atomics.store(this.control, slot.index * CONTROL_INTS, BUSY)
    this.workers[w]!.postMessage({ slot: slot.index, params })
  }

  /** True once the slot's job has finished; throws the worker's error if it failed. */
  done(slot: Slot): boolean {
    const state = Atomics.load(this.control, slot.index * CONTROL_INTS)
    if (state === FAILED) {
      const n = Atomics.load(this.control, slot.index * CONTROL_INTS + 1)
      throw new WorkerJobError(slot.output.toString('utf8', 0, n))
    }
    return state === DONE
  }

  /**
   * Blocks until every thread has loaded its handler (or failed to: its jobs then fail), so that
   * starting the threads costs nothing later, when the work is urgent (a process frozen for it).
   */
  waitReady(): void {
    this.waitCount(loadedWord(this.slotCount), READY_TIMEOUT_MS)
  }

  /** Waits until the shared count at `word` reaches the number of threads; false on timeout. */
  private waitCount(word: number, timeoutMs: number): boolean {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const n = Atomics.load(this.control, word)
      const left = deadline - performance.now()
      if (n >= this.workers.length) return true
      if (left <= 0) return false
      Atomics.wait(this.control, word, n, left)
    }
  }

  /** Gives the slot back (its result read, or abandoned). */
  release(slot: Slot): void {
    const w = this.owner[slot.index]!
    if (w >= 0) { this.load[w]!--; this.owner[slot.index] = -1 }
    Atomics.store(this.control, slot.index * CONTROL_INTS, FREE)
    this.free.push(slot.index)
  }

  /** Blocks until some job finishes (or `timeoutMs` passes); returns at once if one already has unseen. */
  wait(timeoutMs = -1): void {
    if (this.drainNotify() > 0) return
    poll([{ fd: this.notifyFd, events: POLLIN }], timeoutMs)
    this.drainNotify()
  }

  /** Empties the notify pipe; returns how many completions it announced. */
  drainNotify(): number {
    let total = 0
    for (;;) {
      const n = readSome(this.notifyFd, this.scratch)
      if (n <= 0) return total
      total += n
    }
  }

  /**
   * Stops the threads and returns once they have stopped: each finishes loading its handler and
   * the job it is running (jobs still queued are dropped, results not yet taken are lost), then
   * ends. Never terminates a thread that is still working (see worker-main.ts).
   */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.letGo()
    open.delete(this as WorkerPool<never>)
    if (!this.waitCount(stoppedWord(this.slotCount), STOP_TIMEOUT_MS)) {
      // A hung thread keeps the notify pipe: it may still write to it, never to a reused fd.
      for (const w of this.workers) void w.terminate()
      return
    }
    closeQuietly(this.notifyFd)
    closeQuietly(this.notifyWrite)
  }

  /**
   * Tells the threads to stop, without waiting for them (a pool started for a stream that turned
   * out to need none: its threads may still be loading). No job may be submitted after it; the
   * threads end on their own, and close(), or the process's exit, waits for them.
   */
  letGo(): void {
    if (this.letGoDone) return
    this.letGoDone = true
    Atomics.store(this.control, closingWord(this.slotCount), 1)
    for (const w of this.workers) w.postMessage({ close: true })
  }
}
