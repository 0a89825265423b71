// When does a shard's consumer have everything? The post-dump hook may answer ok only then: until
// it answers, CRIU keeps the dumped process frozen; once it has, CRIU kills it. What "has
// everything" means depends on what the shard is, so each shard gets a sink that knows.
//
// The contract (a filter sink, for `--filter CMD`, plugs in the same way):
//   finish()  once, after image_eof was written: nothing more will be written to the shard
//             (a file is fsynced here; a filter would have its stdin closed here);
//   failed()  why this shard can no longer reach its consumer, or null; asked before drained();
//   drained() true once the consumer holds every byte;
//   wrote(n)  optional: n bytes of the stream are written to the shard so far (called as it
//             grows, so a file can be written back behind the write position).
// The filter sinks are streamer's ShardFilters.sinks(): finish() closes the filter's stdin,
// failed() names a filter that exited non-zero or was killed, drained() is true once it exited 0.
// The capture loop is synchronous (poll(2)): the answers must come from system calls made on
// the spot (FIONREAD, SIOCOUTQ, poll with no wait, waitid WNOHANG), never from Node events.
import {
  EINVAL, POLLERR, POLLOUT, SEEK_CUR, SYNC_FILE_RANGE_WAIT_BEFORE, SYNC_FILE_RANGE_WRITE, SysError,
  bytesQueued, bytesUnsent, fsync, lseek, poll, syncFileRange,
} from '@criu-pipes/sys'
import type { FdKind } from '@criu-pipes/streamer'

export interface ShardSink {
  finish(): void
  failed(): string | null
  drained(): boolean
  wrote?(bytes: number): void
}

/** POLLERR on a pipe's write end: no reader left; on a socket: the peer reset the connection. */
const hasError = (fd: number): boolean => ((poll([{ fd, events: POLLOUT }], 0)[0] ?? 0) & POLLERR) !== 0

/** A pipe is drained when its reader has taken every byte (FIONREAD 0). */
class PipeSink implements ShardSink {
  constructor(private readonly fd: number, private readonly what: string) {}
  finish(): void {}
  failed(): string | null {
    const left = bytesQueued(this.fd)
    // A reader that took everything and then left did get the whole stream.
    return left > 0 && hasError(this.fd) ? `${this.what}: its reader went away (EPIPE) with ${left} bytes unread` : null
  }
  drained(): boolean { return bytesQueued(this.fd) === 0 }
}

/**
 * A socket is drained when its peer has consumed every byte (SIOCOUTQ 0). A UNIX peer that
 * closes with bytes unread drops them and resets us (POLLERR): that is a failure, although the
 * queue then reads empty.
 */
class SocketSink implements ShardSink {
  constructor(private readonly fd: number, private readonly what: string) {}
  finish(): void {}
  failed(): string | null {
    return hasError(this.fd) ? `${this.what}: its reader went away (ECONNRESET) before reading everything` : null
  }
  // Queue first, error second: a peer that closes with bytes unread raises the error and only
  // then drops the queue, so an empty queue with no error after it was really read.
  drained(): boolean { return bytesUnsent(this.fd) === 0 && !hasError(this.fd) }
}

// Writeback behind the write position. The post-dump hook answers only after fsync, and the
// process stays frozen until then; left to the kernel, the whole image is still dirty in the page
// cache at that point and fsync writes all of it. So every WRITEBACK_CHUNK written, writeback of
// those bytes starts (the disk works while the dump goes on), and the final fsync finds only the
// tail. Dirty and under-writeback memory stays bounded: bytes more than WRITEBACK_LAG behind are
// waited for (when the disk is slower than the dump, the dump waits here, as it would in fsync).
const WRITEBACK_CHUNK = 8 << 20
const WRITEBACK_LAG = 64 << 20

/** A regular file holds the shard once it is written and fsynced: a power cut then loses nothing. */
class FileSink implements ShardSink {
  private error: string | null = null
  private synced = false
  /** The file offset of the stream's first byte; null once writeback hints stopped (see wrote). */
  private base: number | null
  private writtenBack = 0
  private waited = 0
  constructor(private readonly fd: number, private readonly what: string) {
    this.base = lseek(fd, 0, SEEK_CUR)
  }
  wrote(bytes: number): void {
    if (this.base === null || bytes - this.writtenBack < WRITEBACK_CHUNK) return
    try {
      syncFileRange(this.fd, this.base + this.writtenBack, bytes - this.writtenBack, SYNC_FILE_RANGE_WRITE)
      this.writtenBack = bytes
      const behind = bytes - WRITEBACK_LAG
      if (behind > this.waited) {
        syncFileRange(this.fd, this.base + this.waited, behind - this.waited, SYNC_FILE_RANGE_WAIT_BEFORE)
        this.waited = behind
      }
    } catch {
      // Only hints: a file system that refuses them still gets the fsync that counts (finish),
      // which reports any write error.
      this.base = null
    }
  }
  finish(): void {
    try {
      fsync(this.fd)
      this.synced = true
    } catch (e) {
      this.error = `${this.what}: ${(e as Error).message}`
    }
  }
  failed(): string | null { return this.error }
  drained(): boolean { return this.synced }
}

/**
 * Devices: a block device holds the shard once fsynced, like a file; /dev/null and other
 * character devices cannot sync (EINVAL) and have nothing to wait for.
 */
class DeviceSink implements ShardSink {
  private error: string | null = null
  constructor(private readonly fd: number, private readonly what: string) {}
  finish(): void {
    try {
      fsync(this.fd)
    } catch (e) {
      if (!(e instanceof SysError && e.errno === EINVAL)) this.error = `${this.what}: ${(e as Error).message}`
    }
  }
  failed(): string | null { return this.error }
  drained(): boolean { return this.error === null }
}

export function shardSink(fd: number, kind: FdKind, index: number): ShardSink {
  const what = `shard ${index} (fd ${fd})`
  switch (kind) {
    case 'pipe': return new PipeSink(fd, what)
    case 'socket': return new SocketSink(fd, what)
    case 'file': return new FileSink(fd, what)
    case 'other': return new DeviceSink(fd, what)
  }
}
