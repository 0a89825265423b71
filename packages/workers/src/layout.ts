// The shared memory of a pool, laid out once and seen identically by the main thread and every
// worker: slot i's state and error length in `control`, its small result record in `meta`, its
// input and output buffers side by side in `data`. Nothing is allocated per job.
export const FREE = 0
export const BUSY = 1
export const DONE = 2
export const FAILED = 3

// A job's small results (lengths, a checksum, an AEAD tag): fixed-size, no allocation per job.
export const META_BYTES = 64
// control: [state, errorLength] per slot, then the pool's own words (after the last slot's).
export const CONTROL_INTS = 2
/** Set by the main thread when the pool closes: workers run no more jobs and load nothing more. */
export const closingWord = (slots: number): number => slots * CONTROL_INTS
/** How many workers have stopped for good (handler loaded or failed, no job running, none to come). */
export const stoppedWord = (slots: number): number => slots * CONTROL_INTS + 1
/** How many workers have loaded their handler (or failed to: every job then fails). */
export const loadedWord = (slots: number): number => slots * CONTROL_INTS + 2
const POOL_WORDS = 3

export interface PoolMemory {
  control: SharedArrayBuffer
  meta: SharedArrayBuffer
  data: SharedArrayBuffer
  slots: number
  inputBytes: number
  outputBytes: number
}

/** One chunk buffer of the pool: views on shared memory, valid for the pool's lifetime. */
export interface Slot {
  readonly index: number
  /** What the main thread fills before submit (the chunk to work on). */
  readonly input: Buffer
  /** What the worker fills (compressed, decoded, sealed bytes); also carries an error's text. */
  readonly output: Buffer
  /** The job's small results, META_BYTES. */
  readonly meta: Buffer
}

export function allocate(slots: number, inputBytes: number, outputBytes: number): PoolMemory {
  return {
    control: new SharedArrayBuffer((slots * CONTROL_INTS + POOL_WORDS) * 4),
    meta: new SharedArrayBuffer(slots * META_BYTES),
    data: new SharedArrayBuffer(slots * (inputBytes + outputBytes)),
    slots, inputBytes, outputBytes,
  }
}

export function slotViews(m: PoolMemory): Slot[] {
  const per = m.inputBytes + m.outputBytes
  return Array.from({ length: m.slots }, (_, index) => ({
    index,
    input: Buffer.from(m.data, index * per, m.inputBytes),
    output: Buffer.from(m.data, index * per + m.inputBytes, m.outputBytes),
    meta: Buffer.from(m.meta, index * META_BYTES, META_BYTES),
  }))
}
