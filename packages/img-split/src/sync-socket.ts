// The checkpoint is not done when CRIU has written its last byte: that byte may still sit in a
// pipe between CRIU and us, or between us and the shard's reader, and image_eof is not written
// yet. CRIU runs its post-dump action script after closing every image and BEFORE it kills the
// dumped tasks, so a hook that asks us "is everything out?" and fails otherwise makes `criu
// dump` fail and leaves the process running when the capture cannot finish. This socket carries
// that question; the capture decides when to answer `ok` (see capture.ts). A hook whose
// connection closes without `ok` fails the dump.
import { ServerSocket, closeQuietly, writeSome } from '@criu-pipes/sys'

export const SYNC_SOCKET = 'img-split.sync.sock'
// While a hook waits, shards are re-checked this often (a pipe has no "became empty" event).
export const SYNC_POLL_MS = 10

export class SyncSocket {
  private readonly server: ServerSocket
  private readonly waiters: number[] = []

  /** Listens on SYNC_SOCKET in the (checked) images directory open at `dirFd`. */
  constructor(dirFd: number, dirPath: string) {
    this.server = ServerSocket.listen(dirFd, SYNC_SOCKET, dirPath, 16)
  }

  get fd(): number { return this.server.fd }

  accept(): void {
    const fd = this.server.accept()
    if (fd !== null) this.waiters.push(fd)
  }

  get waiting(): boolean { return this.waiters.length > 0 }

  /** Tells every waiting hook that the capture is complete. */
  answerOk(): void {
    for (const fd of this.waiters.splice(0)) {
      try { writeSome(fd, Buffer.from('ok\n')) } catch { /* that hook is gone: CRIU sees it fail */ }
      closeQuietly(fd)
    }
  }

  /** Waiting hooks see their connection close without `ok`: they fail the dump. */
  close(): void {
    for (const fd of this.waiters.splice(0)) closeQuietly(fd)
    this.server.close()
  }
}
