// The stream `criu restore --lazy-pages` writes on lazy-pages.socket (criu/uffd.c send_uffd,
// lazy_pages_finish_restore), read incrementally so that faults are served while it trickles in:
//   per pstree task, in any order:  int32 pid, then one byte 0x00 carrying the uffd (SCM_RIGHTS)
//                                   or int32 -pid and nothing else for a zombie
//   then u32 "FTSR" once every task is restored, then EOF.
// Sizes are read exactly: the byte that carries an fd must be read by recvmsg, not by read. That
// byte also brings, as the listener asks (listen.ts), who sent it: a pidfd, or a pid (fail-stop.ts).
import { POLLIN, closeQuietly, readSome, recvFd, setNonBlocking, waitFd } from '@criu-pipes/sys'

/** LAZY_PAGES_RESTORE_FINISHED, "ReSTore Finished" read as a little-endian u32. */
export const RESTORE_FINISHED = 0x52535446
const INT32_SIZE = 4

export type RestoreMessage =
  | { kind: 'task'; pid: number; uffd: number; sender: Sender }
  | { kind: 'zombie'; pid: number }
  | { kind: 'finished' }
  | { kind: 'eof' }

/** The restore side broke the protocol, or went away before finishing. */
export class RestoreProtocolError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'RestoreProtocolError'
  }
}

/** Who sent a uffd (recvFd): the kernel's pidfd of that task, or its pid, or neither. */
export interface Sender {
  pidfd: number | null
  pid: number | null
}

type State = 'pid' | 'uffd' | 'marker' | 'finished' | 'closed'

export class RestoreChannel {
  private state: State
  private readonly word = Buffer.alloc(INT32_SIZE)
  private have = 0
  private pid = 0
  private records = 0

  /** `fd` is the accepted connection; it is made non-blocking. */
  constructor(readonly fd: number, readonly taskCount: number) {
    setNonBlocking(fd, true)
    this.state = taskCount > 0 ? 'pid' : 'marker'
  }

  get finished(): boolean {
    return this.state === 'finished' || this.state === 'closed'
  }

  get closed(): boolean {
    return this.state === 'closed'
  }

  /** Tasks announced so far (live and zombie). */
  get received(): number {
    return this.records
  }

  /** Reads whatever has arrived, without blocking; returns the complete messages in order. */
  drain(): RestoreMessage[] {
    const out: RestoreMessage[] = []
    for (;;) {
      const m = this.step()
      if (m === null) return out
      out.push(m)
      if (m.kind === 'eof') return out
    }
  }

  private eof(): RestoreMessage {
    if (this.state !== 'finished') {
      const what = this.state === 'uffd' ? `the uffd of pid ${this.pid}` : this.state === 'marker' ? 'the FTSR marker' : 'a pid'
      this.state = 'closed'
      throw new RestoreProtocolError(
        `criu restore closed lazy-pages.socket after ${this.records} of ${this.taskCount} tasks, ` +
          `waiting for ${what}: the restore failed (see its log)`,
      )
    }
    this.state = 'closed'
    return { kind: 'eof' }
  }

  /** Fills `word`; true when complete, false when the socket has nothing more right now. */
  private fillWord(): boolean | 'eof' {
    while (this.have < INT32_SIZE) {
      const n = readSome(this.fd, this.word, this.have, INT32_SIZE - this.have)
      if (n < 0) return false
      if (n === 0) return 'eof'
      this.have += n
    }
    this.have = 0
    return true
  }

  private step(): RestoreMessage | null {
    switch (this.state) {
      case 'closed':
        return null
      case 'pid': {
        const got = this.fillWord()
        if (got === 'eof') return this.eof()
        if (!got) return null
        const pid = this.word.readInt32LE(0)
        if (pid === 0) throw new RestoreProtocolError('criu restore sent pid 0')
        if (pid < 0) {
          this.countRecord()
          return { kind: 'zombie', pid: -pid }
        }
        this.pid = pid
        this.state = 'uffd'
        return this.step()
      }
      case 'uffd': {
        if ((waitFd(this.fd, POLLIN, 0) & POLLIN) === 0) return null
        const { fd, byte, sender, senderPid } = recvFd(this.fd)
        if (byte === null) return this.eof()
        if (fd === null) {
          if (sender !== null) closeQuietly(sender)
          throw new RestoreProtocolError(`criu restore sent pid ${this.pid} without a uffd`)
        }
        this.countRecord()
        return { kind: 'task', pid: this.pid, uffd: fd, sender: { pidfd: sender, pid: senderPid } }
      }
      case 'marker':
      case 'finished': {
        const got = this.fillWord()
        if (got === 'eof') return this.eof()
        if (!got) return null
        const word = this.word.readUInt32LE(0)
        if (this.state === 'finished') {
          throw new RestoreProtocolError(`criu restore sent 0x${word.toString(16)} after FTSR`)
        }
        if (word !== RESTORE_FINISHED) {
          throw new RestoreProtocolError(
            `expected the FTSR marker 0x${RESTORE_FINISHED.toString(16)} after ${this.taskCount} tasks, ` +
              `got 0x${word.toString(16)} (does pstree.img in -D match the restored images?)`,
          )
        }
        this.state = 'finished'
        return { kind: 'finished' }
      }
    }
  }

  private countRecord(): void {
    this.records++
    this.state = this.records < this.taskCount ? 'pid' : 'marker'
  }
}
