// A blocking TCP client socket for numeric IPv4/IPv6 addresses (names are resolved by the caller,
// with node:dns, before it goes synchronous). Used to talk to CRIU's page server.
import { isIPv4, isIPv6 } from 'node:net'
import { c, errno } from './libc.js'
import { EINTR, O_CLOEXEC } from './constants.js'
import { SysError, check } from './errors.js'
import { waitWritable } from './poll.js'

const AF_INET = 2
const AF_INET6 = 10
const SOCK_STREAM = 1
const SOCK_CLOEXEC = O_CLOEXEC
const IPPROTO_TCP = 6
const TCP_NODELAY = 1
const EALREADY = 114
const EISCONN = 106
// struct sockaddr_in: u16 family, u16 port (big-endian), u8 addr[4], u8 zero[8].
const SOCKADDR_IN_SIZE = 16
// struct sockaddr_in6: u16 family, u16 port (BE), u32 flowinfo, u8 addr[16], u32 scope_id.
const SOCKADDR_IN6_SIZE = 28

function ipv6Bytes(addr: string): Buffer {
  // Expand '::' and an embedded dotted quad into eight 16-bit groups.
  let text = addr.replace(/%.*$/, '')
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (quad) {
    const b = quad[1]!.split('.').map(Number)
    text = text.slice(0, quad.index) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i))
  return out
}

function sockaddrIn(address: string, port: number): { family: number; addr: Buffer } {
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw new Error(`invalid TCP port ${port}`)
  if (isIPv4(address)) {
    const addr = Buffer.alloc(SOCKADDR_IN_SIZE)
    addr.writeUInt16LE(AF_INET, 0)
    addr.writeUInt16BE(port, 2)
    address.split('.').forEach((b, i) => addr.writeUInt8(Number(b), 4 + i))
    return { family: AF_INET, addr }
  }
  if (isIPv6(address)) {
    const addr = Buffer.alloc(SOCKADDR_IN6_SIZE)
    addr.writeUInt16LE(AF_INET6, 0)
    addr.writeUInt16BE(port, 2)
    ipv6Bytes(address).copy(addr, 8)
    return { family: AF_INET6, addr }
  }
  throw new Error(`not a numeric IP address: ${address}`)
}

/** Sets TCP_NODELAY: small requests (a page-server GET header) must not wait for Nagle. */
export function setTcpNoDelay(fd: number, on = true): void {
  const val = new Int32Array([on ? 1 : 0])
  check(c.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, val, 4) as number, 'setsockopt(TCP_NODELAY)')
}

const SOL_SOCKET = 1
const SO_LINGER = 13

/**
 * SO_LINGER {on, 0}: from now on a close(2), ours or the kernel's when the process dies, resets
 * the connection (RST) instead of ending it (FIN). CRIU's lazy page server takes a plain EOF for
 * the end of a successful transfer and kills its frozen source; a reset is an error, after which
 * it resumes the source. So a page-server client arms this for the session and disarms it
 * (`on` false) only for its orderly close.
 */
export function setResetOnClose(fd: number, on: boolean): void {
  const val = new Int32Array([on ? 1 : 0, 0]) // struct linger { int l_onoff; int l_linger }
  check(c.setsockopt(fd, SOL_SOCKET, SO_LINGER, val, 8) as number, 'setsockopt(SO_LINGER)')
}

/**
 * Connects a blocking, close-on-exec TCP socket to a numeric address and sets TCP_NODELAY.
 * Throws a SysError naming the peer (ECONNREFUSED when nothing listens).
 */
export function connectTcp(address: string, port: number): number {
  const { family, addr } = sockaddrIn(address, port)
  const fd = check(c.socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0) as number, 'socket')
  const peer = family === AF_INET6 ? `[${address}]:${port}` : `${address}:${port}`
  for (;;) {
    if ((c.connect(fd, addr, addr.length) as number) === 0) break
    const err = errno()
    // A signal cut the blocking connect short; it carries on in the kernel. Wait for it to settle:
    // the retried connect(2) then reports EISCONN (done) or the real error.
    if (err === EINTR || err === EALREADY) { waitWritable(fd); continue }
    if (err === EISCONN) break
    c.close(fd)
    throw new SysError('connect', err, peer)
  }
  try {
    setTcpNoDelay(fd)
  } catch (e) {
    c.close(fd)
    throw e
  }
  return fd
}
