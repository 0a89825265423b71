// Pages from a CRIU page server (`criu page-server --lazy-pages`, or `criu dump --lazy-pages`
// serving its frozen task). One request at a time: the server is synchronous and answers in
// order anyway, and a request is at most one background chunk (4 MiB), so the daemon's loop is
// never held for longer than one such transfer.
import { PAGE_SIZE } from '@criu-pipes/criu-image'
import { EPIPE, SysError, closeQuietly, connectTcp, readFull, setResetOnClose, writeAll } from '@criu-pipes/sys'
import type { Region } from '@criu-pipes/sys'
import type { PageSource } from './page-source.js'
import { PS_GET_REPLY, PS_IOV_CLOSE, PS_IOV_GET, decodeIov, encodeIov, iovSize } from './page-server-proto.js'
import type { PageServerProto } from './page-server-proto.js'

const hex = (n: number): string => `0x${n.toString(16)}`
const CLOSE_STATUS_SIZE = 4
const ECONNRESET = 104

export class PageServerSource implements PageSource {
  readonly name: string
  private fd: number
  private readonly header: Buffer

  private constructor(fd: number, name: string, private readonly proto: PageServerProto) {
    this.fd = fd
    this.name = name
    this.header = Buffer.alloc(iovSize(proto))
  }

  /**
   * `address` must be numeric; main resolves names before it goes synchronous. The session is
   * armed to reset on close (setResetOnClose): CRIU 4.1's lazy page server treats a plain EOF as
   * success (page-xfer.c page_server_serve: only a page-RECEIVING server checks for the close),
   * so without it our exit, even a crash, would make a lazy dump kill its frozen source.
   */
  static connect(address: string, port: number, proto: PageServerProto): PageServerSource {
    const name = `page server ${address.includes(':') ? `[${address}]` : address}:${port} (protocol ${proto})`
    const fd = connectTcp(address, port)
    setResetOnClose(fd, true)
    return new PageServerSource(fd, name, proto)
  }

  /** Exposed for tests that play the server side over a socketpair. */
  static overFd(fd: number, proto: PageServerProto, name = 'page server'): PageServerSource {
    return new PageServerSource(fd, name, proto)
  }

  read(pid: number, imgAddr: number, nrPages: number, dst: Region): number {
    if (this.fd < 0) throw new Error(`${this.name}: session already closed`)
    const want = Math.min(nrPages, dst.length / PAGE_SIZE)
    const dropped = (why: string): Error => new Error(
      `${this.name} closed the connection on GET pid ${pid} ${hex(imgAddr)} x${want}${why} ` +
        '(it drops the session when asked for pages it has not got; see its log)',
    )
    let headerLen: number
    try {
      writeAll(this.fd, encodeIov(this.proto, { cmd: PS_IOV_GET, nrPages: want, vaddr: imgAddr, dstId: pid }))
      headerLen = readFull(this.fd, this.header)
    } catch (e) {
      if (e instanceof SysError && (e.errno === EPIPE || e.errno === ECONNRESET)) throw dropped(` (${e.code})`)
      throw e
    }
    if (headerLen < this.header.length) throw dropped('')
    const reply = decodeIov(this.proto, this.header)
    if (reply.cmd !== PS_GET_REPLY || reply.vaddr !== imgAddr || reply.dstId !== pid ||
        reply.nrPages < 1 || reply.nrPages > want) {
      throw new Error(
        `${this.name}: unexpected reply to GET pid ${pid} ${hex(imgAddr)} x${want}: ` +
          `cmd ${hex(reply.cmd)} pid ${reply.dstId} ${hex(reply.vaddr)} x${reply.nrPages} (wrong --page-server-proto?)`,
      )
    }
    const len = reply.nrPages * PAGE_SIZE
    if (readFull(this.fd, dst.buffer(0, len)) < len) {
      throw new Error(`${this.name} closed the connection in the middle of pid ${pid}'s pages at ${hex(imgAddr)}`)
    }
    return reply.nrPages
  }

  /**
   * PS_IOV_CLOSE, answered by an int32 status; then we close, and the server, which waits for
   * our EOF, exits. A lazy `criu dump` kills its frozen task only after this.
   */
  closeSession(): number {
    if (this.fd < 0) return 0
    const fd = this.fd
    this.fd = -1
    try {
      writeAll(fd, encodeIov(this.proto, { cmd: PS_IOV_CLOSE, nrPages: 0, vaddr: 0, dstId: 0 }))
      const status = Buffer.alloc(CLOSE_STATUS_SIZE)
      if (readFull(fd, status) < CLOSE_STATUS_SIZE) throw new Error(`${this.name} did not answer PS_IOV_CLOSE`)
      // The server now waits for our EOF: a plain one this time.
      setResetOnClose(fd, false)
      return status.readInt32LE(0)
    } finally {
      closeQuietly(fd)
    }
  }

  close(): void {
    this.closeSession()
  }

  /** Closes with a reset (armed at connect): a lazy dump then resumes its frozen source. */
  abort(): void {
    closeQuietly(this.fd)
    this.fd = -1
  }
}
