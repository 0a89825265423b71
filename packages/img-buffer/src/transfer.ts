// One file on its way to CRIU through the pipe CRIU passed us. Non-blocking: the serve loop
// pushes whatever fits and comes back when poll says there is room, so it can answer CRIU's next
// request meanwhile (CRIU asks for pages-N.img after reading only 4 KiB of pagemap-N.img).
import { SysError, EPIPE, closeQuietly, setNonBlocking, trySetPipeSize, vmspliceSome, writeSome } from '@criu-pipes/sys'
import { FramingError } from '@criu-pipes/framing'
import type { StoredFile } from './store.js'

// What criu-image-streamer asks for CRIU's pipes on restore.
const CRIU_PIPE_SIZE = 1 << 20

export class Transfer {
  private chunk = 0
  private offset = 0

  constructor(readonly name: string, readonly fd: number, private readonly file: StoredFile) {
    setNonBlocking(fd, true)
    trySetPipeSize(fd, CRIU_PIPE_SIZE)
  }

  /** Pushes what fits; true once the whole file is in the pipe (then the fd is closed: EOF to CRIU). */
  push(): boolean {
    try {
      while (this.chunk < this.file.chunks.length) {
        const c = this.file.chunks[this.chunk]!
        const left = c.length - this.offset
        const n = left === 0 ? 0
          : c.region ? vmspliceSome(this.fd, c.region.ptr + BigInt(this.offset), left, true)
          : writeSome(this.fd, c.small!, this.offset, left)
        if (n < 0) return false
        this.offset += n
        if (this.offset === c.length) {
          // Gifted pages now belong to the pipe: our mapping can go, and with it our copy.
          c.region?.unmap()
          this.chunk++
          this.offset = 0
        }
      }
    } catch (e) {
      if (e instanceof SysError && e.errno === EPIPE) throw new FramingError(`while serving ${this.name}: CRIU closed its end of the pipe`)
      throw e
    }
    closeQuietly(this.fd)
    this.file.free()
    return true
  }

  abort(): void {
    closeQuietly(this.fd)
    this.file.free()
  }
}
