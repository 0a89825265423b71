import { availableParallelism } from 'node:os'

/** `--threads` default: one worker per core the process may run on. */
export const defaultThreads = (): number => Math.max(1, availableParallelism())
