// Pages from a CRIU page server (`criu page-server --lazy-pages`, or `criu dump --lazy-pages`
// serving its frozen task). One request at a time: the server is synchronous and answers in
// order anyway, and a request is at most one background chunk (4 MiB), so the daemon's loop is
// never held for longer than one such transfer.
//
// How the session may end decides a lazy dump's source: CRIU's lazy page server (page-xfer.c
// page_server_serve, the same in 4.1.1, 4.2 and later) takes a plain EOF for a finished transfer
// and kills its frozen task; only an error (a reset, EPIPE) makes it resume the task. So from
// its first message on, a session always leaves the last byte of the server's latest answer
// unread in our socket: closed with unread data, a UNIX socket sets ECONNRESET on its peer and a
// TCP socket sends a reset, whoever closes it (we, or the kernel when we die). The session opens
// with PS_PING, whose 4-byte answer is the first thing left unread; every later read takes that
// held-back byte first and peeks, not takes, the answer's last byte. Only PS_IOV_CLOSE's answer
// is read to the end: the server has left its loop by then.
import { PAGE_SIZE } from '@criu-pipes/criu-image'
import {
  EPIPE, SysError, closeQuietly, connectTcp, peekSome, readFull, setResetOnClose, waitReadable, writeAll,
} from '@criu-pipes/sys'
import type { Region } from '@criu-pipes/sys'
import type { PageSource } from './page-source.js'
import {
  PS_GET_REPLY, PS_IOV_CLOSE, PS_IOV_GET, PS_PING, PS_STATUS_SIZE, decodeIov, encodeIov, iovSize,
} from './page-server-proto.js'
import type { PageServerProto } from './page-server-proto.js'

const hex = (n: number): string => `0x${n.toString(16)}`
const ECONNRESET = 104
/**
 * How long the server may take to answer the ping once we wait for it (the server is up by
 * then): no answer means it reads another wire version (see PS_PING).
 */
const PING_ANSWER_MS = 10_000

export class PageServerSource implements PageSource {
  readonly name: string
  private fd: number
  /** The answer header, after room for the held-back byte. */
  private readonly header: Buffer
  /** The ping's answer is still to be read (it is, at the first request). */
  private pingPending = true
  /** One byte of the server's latest answer is still queued in our socket (see the top). */
  private held = false

  private constructor(fd: number, name: string, private readonly proto: PageServerProto) {
    this.fd = fd
    this.name = name
    this.header = Buffer.alloc(1 + iovSize(proto))
  }

  /**
   * `address` must be numeric; main resolves names before it goes synchronous. The session is
   * also armed to reset on close (setResetOnClose), for the moments nothing is held back.
   */
  static connect(address: string, port: number, proto: PageServerProto): PageServerSource {
    const name = `page server ${address.includes(':') ? `[${address}]` : address}:${port} (protocol ${proto})`
    const fd = connectTcp(address, port)
    setResetOnClose(fd, true)
    return PageServerSource.overFd(fd, proto, name)
  }

  /**
   * Over a connected socket (a socketpair end given to CRIU's --ps-socket, or a test's). Sends
   * the ping unless the caller queued it already (`pinged`: before CRIU could serve at all).
   */
  static overFd(fd: number, proto: PageServerProto, name = 'page server', pinged = false): PageServerSource {
    if (!pinged) writeAll(fd, encodeIov(proto, PS_PING))
    return new PageServerSource(fd, name, proto)
  }

  read(pid: number, imgAddr: number, nrPages: number, dst: Region): number {
    if (this.fd < 0) throw new Error(`${this.name}: session already closed`)
    const want = Math.min(nrPages, dst.length / PAGE_SIZE)
    const dropped = (why: string): Error => new Error(
      `${this.name} closed the connection on GET pid ${pid} ${hex(imgAddr)} x${want}${why} ` +
        '(it drops the session when asked for pages it has not got; see its log)',
    )
    let reply
    try {
      this.takePing()
      writeAll(this.fd, encodeIov(this.proto, { cmd: PS_IOV_GET, nrPages: want, vaddr: imgAddr, dstId: pid }))
      // The GET is queued at the server: if we die from here on, its answer finds us gone (EPIPE).
      reply = this.readAnswer(this.header.length - 1)
    } catch (e) {
      if (e instanceof SysError && (e.errno === EPIPE || e.errno === ECONNRESET)) throw dropped(` (${e.code})`)
      throw e
    }
    if (reply === undefined) throw dropped('')
    const iov = decodeIov(this.proto, reply)
    if (iov.cmd !== PS_GET_REPLY || iov.vaddr !== imgAddr || iov.dstId !== pid || iov.nrPages < 1 || iov.nrPages > want) {
      throw new Error(
        `${this.name}: unexpected reply to GET pid ${pid} ${hex(imgAddr)} x${want}: ` +
          `cmd ${hex(iov.cmd)} pid ${iov.dstId} ${hex(iov.vaddr)} x${iov.nrPages} (wrong --page-server-proto?)`,
      )
    }
    const len = iov.nrPages * PAGE_SIZE
    if (!this.readHoldingLast(dst.buffer(0, len))) {
      throw new Error(`${this.name} closed the connection in the middle of pid ${pid}'s pages at ${hex(imgAddr)}`)
    }
    return iov.nrPages
  }

  /** Reads the ping's answer (0 or 1: no parent images, or some), its last byte held back. */
  private takePing(): void {
    if (!this.pingPending) return
    this.pingPending = false
    const answer = Buffer.alloc(PS_STATUS_SIZE)
    if (waitReadable(this.fd, PING_ANSWER_MS) === 0) {
      throw new Error(`${this.name} did not answer PS_IOV_PARENT within ${PING_ANSWER_MS / 1000} s (wrong --page-server-proto?)`)
    }
    if (!this.readHoldingLast(answer)) throw new Error(`${this.name} closed the connection at once (wrong --page-server-proto? see its log)`)
    const v = answer.readInt32LE(0)
    if (v !== 0 && v !== 1) throw new Error(`${this.name} answered PS_IOV_PARENT with ${v}: not a CRIU page server of protocol ${this.proto}`)
  }

  /**
   * The next `len` bytes of the server's answer, after the byte held back from the one before
   * (taken now: our request is queued at the server already); undefined at EOF.
   */
  private readAnswer(len: number): Buffer | undefined {
    const skip = this.held ? 1 : 0
    const buf = this.header.subarray(1 - skip, 1 + len)
    this.held = false
    return readFull(this.fd, buf) < buf.length ? undefined : buf.subarray(skip)
  }

  /** Fills `buf`, its last byte peeked and left queued (held); false at EOF. */
  private readHoldingLast(buf: Buffer): boolean {
    const last = buf.length - 1
    if (readFull(this.fd, buf, 0, last) < last) return false
    if (peekSome(this.fd, buf, last, 1) < 1) return false
    this.held = true
    return true
  }

  /**
   * PS_IOV_CLOSE, answered by an int32 status; then we close. A lazy `criu dump` kills its
   * frozen task only after this; a TCP server waits for our EOF first.
   */
  closeSession(): number {
    if (this.fd < 0) return 0
    const fd = this.fd
    try {
      this.takePing()
      writeAll(fd, encodeIov(this.proto, { cmd: PS_IOV_CLOSE, nrPages: 0, vaddr: 0, dstId: 0 }))
      const status = this.readAnswer(PS_STATUS_SIZE)
      if (status === undefined) throw new Error(`${this.name} did not answer PS_IOV_CLOSE`)
      // Everything is read and the server has left its loop: a plain EOF this time.
      setResetOnClose(fd, false)
      return status.readInt32LE(0)
    } finally {
      // Not closed in order (a throw above): the reset, and whatever is unread, stay armed.
      this.fd = -1
      closeQuietly(fd)
    }
  }

  close(): void {
    this.closeSession()
  }

  /** Closes with unread data (or a reset, armed at connect): a lazy dump resumes its frozen source. */
  abort(): void {
    closeQuietly(this.fd)
    this.fd = -1
  }
}
