import type { Slot } from './layout.js'

/**
 * What a pool runs. A handler module exports `createHandler(init)`, called once per worker with
 * the pool's `init` value; the function it returns is called once per job with the job's slot and
 * parameters. It reads `slot.input`, writes `slot.output` and `slot.meta`, and returns normally,
 * or throws: the message reaches the main thread, which throws a WorkerJobError.
 */
export type JobHandler<P> = (slot: Slot, params: P) => void
export type HandlerFactory<I, P> = (init: I) => JobHandler<P> | Promise<JobHandler<P>>
