// The inputs of a capture: the pipes CRIU passes (one per image file) and the external files
// given with -e. Each is drained into the shards as data becomes available.
import { bytesQueued, closeQuietly, readSome, trySetPipeSize } from '@criu-pipes/sys'
import type { ImageSink } from '@criu-pipes/framing'
import type { FdKind } from '@criu-pipes/streamer'

// criu-image-streamer asks 4 MiB for CRIU's pipes ("CRIU has difficulties if the pipe size is
// bigger than 4MB"); without CAP_SYS_RESOURCE the kernel keeps fs.pipe-max-size (1 MiB) or less.
export const CRIU_PIPE_SIZE = 4 << 20
// A regular ext file reports all its remaining bytes as readable; take it in bounded bites so the
// other inputs are not starved while a large tar is copied.
const MAX_BITE = 16 << 20
// How much one input may move before the others (and CRIU's socket) get a look again.
const PUMP_BUDGET = 16 << 20
// Inputs that cannot say how much is queued (character devices such as /dev/null: FIONREAD is
// ENOTTY there) are read through a buffer of this size.
const COPY_BITE = 1 << 20

export class Source {
  readonly name: string
  readonly fd: number
  private readonly kind: FdKind
  private copyBuf: Buffer | null = null

  constructor(name: string, fd: number, kind: FdKind) {
    this.name = name
    this.fd = fd
    this.kind = kind
    if (kind === 'pipe') trySetPipeSize(fd, CRIU_PIPE_SIZE)
  }

  /** Moves what poll(2) said is there into the shards; false when the input is at EOF. */
  pump(writer: ImageSink): boolean {
    if (this.kind === 'other') return this.copy(writer)
    let n = this.ready()
    if (n === 0) return false
    // Keep pumping while data keeps coming: a poll(2) per burst costs as much as the burst.
    let budget = PUMP_BUDGET
    do {
      writer.spliceFrom(this.name, this.fd, n)
      budget -= n
    } while (budget > 0 && (n = this.ready()) > 0)
    return true
  }

  close(): void { closeQuietly(this.fd) }

  /** Bytes ready to move now (pipes, sockets, regular files); 0 at EOF (poll said readable). */
  private ready(): number {
    return Math.min(bytesQueued(this.fd), MAX_BITE)
  }

  private copy(writer: ImageSink): boolean {
    this.copyBuf ??= Buffer.allocUnsafe(COPY_BITE)
    const n = readSome(this.fd, this.copyBuf)
    if (n === 0) return false
    if (n > 0) writer.write(this.name, this.copyBuf.subarray(0, n))
    return true
  }
}
