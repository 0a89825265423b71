export { WorkerPool, WorkerJobError, type PoolOptions } from './pool.js'
export { META_BYTES, type Slot } from './layout.js'
export type { JobHandler, HandlerFactory } from './handler.js'
export { defaultThreads } from './threads.js'
