// The inputs of a capture: the pipes CRIU passes (one per image file) and the external files
// given with -e. Each is drained into the shards as data becomes available.
import { bytesQueued, closeQuietly, trySetPipeSize } from '@criu-pipes/sys'

// criu-image-streamer asks 4 MiB for CRIU's pipes ("CRIU has difficulties if the pipe size is
// bigger than 4MB"); without CAP_SYS_RESOURCE the kernel keeps fs.pipe-max-size (1 MiB) or less.
export const CRIU_PIPE_SIZE = 4 << 20
// A regular ext file reports all its remaining bytes as readable; take it in bounded bites so the
// other inputs are not starved while a large tar is copied.
const MAX_BITE = 16 << 20

export class Source {
  readonly name: string
  readonly fd: number
  private readonly isPipe: boolean

  constructor(name: string, fd: number, isPipe: boolean) {
    this.name = name
    this.fd = fd
    this.isPipe = isPipe
    if (isPipe) trySetPipeSize(fd, CRIU_PIPE_SIZE)
  }

  /** Bytes ready to move now; 0 when the source is at EOF (poll said readable, nothing queued). */
  ready(): number {
    return Math.min(bytesQueued(this.fd), MAX_BITE)
  }

  close(): void { closeQuietly(this.fd) }
}
