// Background push sizing, as CRIU's update_xfer_len: chunks grow while the process is not
// faulting and drop back on every fault, so a fault never waits behind a big transfer for long.

/** CRIU's DEFAULT_XFER_LEN: the first chunk, and the step by which chunks grow. */
export const FIRST_CHUNK = 64 << 10
export const CHUNK_STEP = 64 << 10
/** CRIU's MAX_XFER_LEN: the largest run a page server hands out at once (one pipe's worth). */
export const MAX_CHUNK = 4 << 20

export class ChunkSize {
  private bytes = FIRST_CHUNK

  /** The size for this chunk; the next one will be CHUNK_STEP larger, up to MAX_CHUNK. */
  next(): number {
    const now = this.bytes
    this.bytes = Math.min(this.bytes + CHUNK_STEP, MAX_CHUNK)
    return now
  }

  /** A page fault: urgent work is back, so start small again. */
  reset(): void {
    this.bytes = FIRST_CHUNK
  }

  peek(): number {
    return this.bytes
  }
}
