// One file on its way to CRIU through the pipe CRIU passed us. Non-blocking: the serve loop
// pushes whatever fits and comes back when there is room, so it can answer CRIU's next request
// meanwhile (CRIU asks for pages-N.img after reading only 4 KiB of pagemap-N.img).
//
// Each kind of chunk goes the cheapest way: regions are vmspliced as a gift (the pipe takes our
// pages, we unmap them), file ranges are spliced from the page cache, Buffers are written. They
// go first into a staging pipe of our own, and from there into CRIU's pipe with one splice per
// wake-up (pipe to pipe only moves page references). The point is CRIU's pipe mutex: CRIU holds
// it while it copies up to a megabyte out of the pipe, and any splice of ours meanwhile spins on
// it. Moving chunk after chunk straight into CRIU's pipe, woken by poll (POLLOUT = one slot free,
// i.e. while CRIU is still copying), spent two thirds of img-buffer's CPU in that spin when
// serving a shard file. So:
//  - the staging pipe is larger than CRIU's pipe, so the one splice fills CRIU's pipe, and a
//    short count proves it full;
//  - only then do we wait, edge-triggered (epoll), for the wake-up the kernel gives writers when
//    a read that began on a full pipe has ended and let go of the mutex.
// Stored chunks of an extended stream come from the file's WindowStream, decoded and verified
// just ahead (decode-window.ts), and are written (copied: the slot is reused at once). When the
// next one is not decoded yet the transfer is `starved`: the serve loop pushes it again when the
// pool says a chunk is done. A chunk that fails its check throws here: the caller stops serving
// and closes CRIU's pipe short, which fails CRIU's read of the file.
import {
  SysError, EPIPE, EPOLLET, EPOLLOUT, O_CLOEXEC, O_NONBLOCK, SPLICE_F_NONBLOCK, closeQuietly, epollAdd, epollDel, makePipe,
  setNonBlocking, spliceFromFile, spliceSome, trySetPipeSize, vmspliceSome, writeSome,
} from '@criu-pipes/sys'
import { FramingError, type DecodeWindow, type WindowStream } from '@criu-pipes/framing'
import type { Chunk, StoredFile } from './store.js'

// What criu-image-streamer asks for CRIU's pipes on restore; we take less when the staging pipe
// cannot be twice that (fs.pipe-max-size without CAP_SYS_RESOURCE).
const CRIU_PIPE_SIZE = 1 << 20
const STAGE_PIPE_SIZE = 2 * CRIU_PIPE_SIZE

export class Transfer {
  /** The next chunk to stage, and how much of it is staged. */
  private chunk = 0
  private offset = 0
  /** Bytes in the staging pipe, not yet in CRIU's; bytes put in CRIU's. */
  private staged = 0
  private sent = 0
  private readonly stageOut: number
  private readonly stageIn: number
  private watched = false
  private closed = false
  /** The decoding of the file's stored chunks, if it has any. */
  private readonly stream: WindowStream | null = null
  /** Waiting for the window to decode the next chunk (not for CRIU). */
  starved = false

  /**
   * `epfd`: the serve loop's epoll, told about CRIU's pipe while we wait for room in it;
   * `window`: where the file's stored chunks are decoded (needed if it has any).
   */
  constructor(readonly name: string, readonly fd: number, private readonly file: StoredFile, private readonly epfd: number, window: DecodeWindow | null = null) {
    const stored = file.storedChunks()
    if (stored.length) {
      if (!window) throw new Error(`internal: ${name} has stored chunks and no decode window`)
      this.stream = window.open(stored)
    }
    setNonBlocking(fd, true)
    ;[this.stageOut, this.stageIn] = makePipe(O_CLOEXEC | O_NONBLOCK)
    const staging = trySetPipeSize(this.stageIn, STAGE_PIPE_SIZE)
    trySetPipeSize(fd, Math.min(CRIU_PIPE_SIZE, staging / 2))
  }

  /**
   * Pushes what fits; true once the whole file is in CRIU's pipe (then the fd is closed: EOF to
   * CRIU). False only when CRIU's pipe is full: its fd is then in the epoll, edge-triggered, and
   * the event comes when CRIU has read.
   */
  push(): boolean {
    try {
      for (;;) {
        this.stage()
        if (this.staged === 0) {
          if (this.starved) return false
          if (this.chunk < this.file.chunks.length) throw new Error(`internal: nothing staged of ${this.name}, yet not all sent`)
          break
        }
        const n = spliceSome(this.stageOut, this.fd, this.staged, SPLICE_F_NONBLOCK)
        if (n < 0) return this.waitForRoom()
        this.staged -= n
        this.sent += n
        if (this.staged > 0) {
          // Short: CRIU's pipe is full. Stage more while CRIU reads.
          this.stage()
          return this.waitForRoom()
        }
      }
    } catch (e) {
      // CRIU closed its end before reading it all: it wanted no more of this file (CRIU 4.1
      // opens nftables-N.img on a restore into new namespaces, takes the pipe's size, 0, for the
      // image's and closes it unread; criu-image-streamer, which writes small files at once, never
      // notices). Whether CRIU needed those bytes is CRIU's to say: a restore that did fails
      // there. So the file is done, its memory freed, and serving goes on.
      if (!(e instanceof SysError && e.errno === EPIPE)) throw e
    }
    this.close()
    return true
  }

  abort(): void {
    this.close()
  }

  private waitForRoom(): false {
    if (!this.watched) {
      // Added now, not before the first push: epoll_ctl reports an fd that is ready when added.
      epollAdd(this.epfd, this.fd, EPOLLOUT | EPOLLET)
      this.watched = true
    }
    return false
  }

  /** Moves chunks into the staging pipe until it is full or the whole file is staged. */
  private stage(): void {
    this.starved = false
    while (this.chunk < this.file.chunks.length) {
      const c = this.file.chunks[this.chunk]!
      const left = c.length - this.offset
      const n = left === 0 ? 0 : this.move(c, left)
      if (n < 0) return
      this.offset += n
      this.staged += n
      // A short move: the staging pipe is full (or a splice stopped early; the next push goes on).
      if (this.offset < c.length) return
      // Gifted pages now belong to the pipe: our mapping can go, and with it our copy.
      if (c.kind === 'region') c.region.unmap()
      if (c.kind === 'stored') this.stream!.taken()
      this.chunk++
      this.offset = 0
    }
  }

  /** One non-blocking move of the chunk's next bytes into the staging pipe: how many went, -1 when it is full. */
  private move(c: Chunk, left: number): number {
    switch (c.kind) {
      case 'region': return vmspliceSome(this.stageIn, c.region.ptr + BigInt(this.offset), left, true)
      case 'bytes': return writeSome(this.stageIn, c.data, this.offset, left)
      case 'stored': {
        const decoded = this.stream!.ready()
        if (!decoded) { this.starved = true; return -1 }
        return writeSome(this.stageIn, decoded, this.offset, left)
      }
      case 'file-range': {
        const n = spliceFromFile(c.fd, c.position + this.offset, this.stageIn, left, SPLICE_F_NONBLOCK)
        if (n === 0) throw new FramingError(`while serving ${this.name}: its shard file got shorter after img-buffer read it`)
        return n
      }
    }
  }

  /** Once only: a closed fd number may already belong to someone else. */
  private close(): void {
    if (this.closed) return
    this.closed = true
    // Out of the epoll first: CRIU may still hold this pipe end, and then closing ours would not.
    if (this.watched) epollDel(this.epfd, this.fd)
    closeQuietly(this.fd)
    closeQuietly(this.stageIn)
    closeQuietly(this.stageOut)
    this.stream?.close()
    this.file.free()
  }
}
