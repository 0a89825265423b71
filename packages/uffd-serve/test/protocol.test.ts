// Byte-level protocols: the restore side of lazy-pages.socket, read piecewise, and the
// page-server client against a scripted server, in both wire versions.
import t from 'tap'
import type { Test } from 'tap'
import { createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import { PAGE_SIZE } from '@criu-pipes/criu-image'
import { Region, SysError, acceptOne, bytesQueued, closeQuietly, connectTcp, connectUnix, listenUnix, makePipe, readFull, sendFd, writeAll } from '@criu-pipes/sys'
import { PS_GET_REPLY, PageServerSource, decodeIov, encodeIov } from '@criu-pipes/lazy-pages'
import { RESTORE_FINISHED, RestoreChannel, RestoreProtocolError } from '../src/index.js'
import { tmpDir } from './fixtures/lazy-task.js'

/** A connected pair of UNIX stream sockets: [ours, theirs]. */
function socketPair(t: Test): [number, number] {
  const path = join(tmpDir(t), 's')
  const l = listenUnix(path)
  const c = connectUnix(path)
  const a = acceptOne(l)
  closeQuietly(l)
  t.teardown(() => { closeQuietly(a); closeQuietly(c) })
  return [a, c]
}

const i32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32LE(v, 0); return b }
const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v, 0); return b }

t.test('the restore stream, read as it trickles in', async (t) => {
  const [ours, theirs] = socketPair(t)
  const ch = new RestoreChannel(ours, 2)
  const [pr, pw] = makePipe()
  t.teardown(() => { closeQuietly(pr); closeQuietly(pw) })
  writeAll(theirs, i32(-9).subarray(0, 2))
  t.same(ch.drain(), [], 'half a pid: nothing yet')
  writeAll(theirs, i32(-9).subarray(2))
  t.same(ch.drain(), [{ kind: 'zombie', pid: 9 }])
  writeAll(theirs, i32(8))
  t.same(ch.drain(), [], 'a pid without its fd yet')
  sendFd(theirs, pw)
  const [m] = ch.drain()
  t.equal(m?.kind, 'task')
  if (m?.kind === 'task') {
    t.equal(m.pid, 8)
    t.ok(m.uffd > 2, 'a new fd')
    closeQuietly(m.uffd)
  }
  t.notOk(ch.finished)
  writeAll(theirs, u32(RESTORE_FINISHED))
  t.same(ch.drain(), [{ kind: 'finished' }])
  t.ok(ch.finished)
  closeQuietly(theirs)
  t.same(ch.drain(), [{ kind: 'eof' }])
  t.ok(ch.closed)
})

t.test('protocol errors', async (t) => {
  {
    const [ours, theirs] = socketPair(t)
    const ch = new RestoreChannel(ours, 1)
    writeAll(theirs, i32(-3))
    writeAll(theirs, u32(0xdeadbeef))
    t.throws(() => ch.drain(), /expected the FTSR marker 0x52535446 after 1 tasks, got 0xdeadbeef/)
  }
  {
    const [ours, theirs] = socketPair(t)
    const ch = new RestoreChannel(ours, 1)
    writeAll(theirs, Buffer.concat([i32(5), Buffer.from([0])]))
    t.throws(() => ch.drain(), /sent pid 5 without a uffd/)
  }
  {
    const [ours, theirs] = socketPair(t)
    const ch = new RestoreChannel(ours, 1)
    writeAll(theirs, Buffer.concat([i32(-3), u32(RESTORE_FINISHED), u32(1)]))
    t.throws(() => ch.drain(), /after FTSR/)
  }
  {
    const [ours, theirs] = socketPair(t)
    const ch = new RestoreChannel(ours, 3)
    writeAll(theirs, i32(-3))
    closeQuietly(theirs)
    t.throws(() => ch.drain(), new RestoreProtocolError(
      'criu restore closed lazy-pages.socket after 1 of 3 tasks, waiting for a pid: the restore failed (see its log)'))
  }
})

t.test('page_server_iov: 24 bytes in 4.1, 32 in 4.2', async (t) => {
  const iov = { cmd: 7, nrPages: 3, vaddr: 0x7fd7f7572000, dstId: 1 }
  const v41 = encodeIov('4.1', iov)
  // Observed on a CRIU 4.1.1 wire: 07000000 01000000 002057f7d77f0000 0100000000000000 (1 page).
  t.equal(encodeIov('4.1', { ...iov, nrPages: 1 }).toString('hex'), '0700000001000000002057f7d77f00000100000000000000')
  t.equal(v41.length, 24)
  t.same(decodeIov('4.1', v41), iov)
  const v42 = encodeIov('4.2', iov)
  t.equal(v42.length, 32)
  t.equal(v42.toString('hex'), '070000000000000003000000000000000020' + '57f7d77f0000' + '0100000000000000')
  t.same(decodeIov('4.2', v42), iov)
  t.equal(PS_GET_REPLY, 0x00040006)
})

for (const proto of ['4.1', '4.2'] as const) {
  t.test(`PageServerSource GET and CLOSE (${proto})`, async (t) => {
    const [ours, theirs] = socketPair(t)
    const src = PageServerSource.overFd(ours, proto)
    const dst = new Region(4 * PAGE_SIZE)
    t.teardown(() => dst.unmap())
    const hs = proto === '4.1' ? 24 : 32
    const get = Buffer.alloc(hs)
    readFull(theirs, get)
    t.same(decodeIov(proto, get), { cmd: 5, nrPages: 0, vaddr: 0, dstId: 0x101 }, 'the session opens with PS_IOV_PARENT for pid 1 (the ping)')
    // The server's answers are queued before we ask: it is synchronous and answers in order anyway.
    // It gives 2 of the 3 pages asked for.
    writeAll(theirs, i32(0))
    writeAll(theirs, encodeIov(proto, { cmd: PS_GET_REPLY, nrPages: 2, vaddr: 0x10000, dstId: 77 }))
    writeAll(theirs, Buffer.concat([Buffer.alloc(PAGE_SIZE, 0xa1), Buffer.alloc(PAGE_SIZE - 1, 0xa2), Buffer.from([0xa3])]))
    t.equal(src.read(77, 0x10000, 3, dst), 2, 'fewer pages than asked is fine')
    t.equal(dst.buffer(0, 1)[0], 0xa1)
    t.equal(dst.buffer(PAGE_SIZE, 1)[0], 0xa2)
    t.equal(dst.buffer(2 * PAGE_SIZE - 1, 1)[0], 0xa3, 'the last byte too (peeked)')
    t.equal(bytesQueued(ours), 1, 'and only that byte is left unread in our socket')
    readFull(theirs, get)
    t.same(decodeIov(proto, get), { cmd: 7, nrPages: 3, vaddr: 0x10000, dstId: 77 })

    writeAll(theirs, encodeIov(proto, { cmd: PS_GET_REPLY, nrPages: 1, vaddr: 0x99000, dstId: 77 }))
    t.throws(() => src.read(77, 0x20000, 1, dst), /unexpected reply to GET pid 77 0x20000 x1/)
    readFull(theirs, get)

    writeAll(theirs, i32(0))
    t.equal(src.closeSession(), 0, 'CLOSE answered by int32 0')
    readFull(theirs, get)
    t.equal(decodeIov(proto, get).cmd, 0x1023)
  })
}

t.test('PageServerSource: a server that drops the session', async (t) => {
  const [ours, theirs] = socketPair(t)
  const src = PageServerSource.overFd(ours, '4.1')
  const dst = new Region(PAGE_SIZE)
  t.teardown(() => dst.unmap())
  closeQuietly(theirs)
  t.throws(() => src.read(1, 0x1000, 1, dst), /page server closed the connection/)
  src.abort()
})

t.test('PageServerSource: a server of the other wire version does not answer the ping', async (t) => {
  const [ours, theirs] = socketPair(t)
  const src = PageServerSource.overFd(ours, '4.1', 'page server', true)
  t.teardown(() => closeQuietly(theirs))
  const dst = new Region(PAGE_SIZE)
  t.teardown(() => dst.unmap())
  writeAll(theirs, i32(7))
  t.throws(() => src.read(1, 0x1000, 1, dst), /answered PS_IOV_PARENT with 7: not a CRIU page server of protocol 4\.1/)
  src.abort()
})

/** What the server side of a UNIX socketpair reads once the client is gone: EOF, or an error. */
function serverSees(fd: number): string {
  try {
    return readFull(fd, Buffer.alloc(24)) === 0 ? 'EOF' : 'data'
  } catch (e) {
    return (e as SysError).code ?? 'error'
  }
}

t.test('over a socketpair the client\'s end, however it ends, is never a plain EOF before PS_IOV_CLOSE', async (t) => {
  // CRIU's lazy page server takes EOF for success (and a dump then kills its source); closing a
  // UNIX socket with unread data gives its peer ECONNRESET instead: that is what we rely on.
  {
    const [ours, theirs] = socketPair(t)
    const src = PageServerSource.overFd(ours, '4.1', 'page server', true)
    writeAll(theirs, i32(0)) // the ping's answer, not taken yet
    src.abort()
    t.equal(serverSees(theirs), 'ECONNRESET', 'aborted before the first request')
  }
  {
    const [ours, theirs] = socketPair(t)
    const src = PageServerSource.overFd(ours, '4.1', 'page server', true)
    const dst = new Region(PAGE_SIZE)
    t.teardown(() => dst.unmap())
    writeAll(theirs, i32(0))
    writeAll(theirs, encodeIov('4.1', { cmd: PS_GET_REPLY, nrPages: 1, vaddr: 0x1000, dstId: 1 }))
    writeAll(theirs, Buffer.alloc(PAGE_SIZE, 1))
    t.equal(src.read(1, 0x1000, 1, dst), 1)
    readFull(theirs, Buffer.alloc(24)) // the GET
    src.abort()
    t.equal(serverSees(theirs), 'ECONNRESET', 'aborted between requests (the server idle, waiting for the next)')
  }
  {
    const [ours, theirs] = socketPair(t)
    writeAll(theirs, i32(0))
    readFull(ours, Buffer.alloc(4))
    closeQuietly(ours) // what a client that read everything would do: the failure we avoid
    t.equal(serverSees(theirs), 'EOF', 'a client that takes every byte leaves a plain EOF (CRIU: success)')
  }
})

t.test('a page-server session resets on abort: a lazy dump then sees a failed transfer and resumes its source', async (t) => {
  // (The orderly end, PS_IOV_CLOSE then a plain EOF, is seen by the e2e tests: the dump exits 0.)
  // The server reads nothing until we are gone, as CRIU still dumping would.
  const server = createServer({ pauseOnConnect: true })
  const conn = new Promise<Socket>((res) => server.once('connection', res))
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res))
  PageServerSource.connect('127.0.0.1', (server.address() as AddressInfo).port, '4.1').abort()
  const sock = await conn
  // Read as CRIU reads (recv; Node's own reading reports this reset as an EOF), from the fd of
  // the paused socket.
  const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd
  t.equal(readFull(fd, Buffer.alloc(24)), 24, 'the ping')
  t.equal(serverSees(fd), 'ECONNRESET', 'then a reset, not an EOF (which CRIU takes for success)')
  sock.destroy()
  await new Promise((res) => server.close(res))
})

t.test('connectTcp (sys): IPv4 and IPv6 loopback, a refused port, a name', async (t) => {
  for (const host of ['127.0.0.1', '::1']) {
    const server = createServer()
    // connectTcp blocks this thread, so the server may only be looked at afterwards.
    const got = new Promise<string>((res) => {
      server.once('connection', (sock) => sock.once('data', (b: Buffer) => res(b.toString())))
    })
    const listening = await new Promise<boolean>((res) => {
      server.once('error', () => res(false))
      server.listen(0, host, () => res(true))
    })
    if (!listening) { t.comment(`no ${host} here`); continue }
    const { port } = server.address() as AddressInfo
    const fd = connectTcp(host, port)
    writeAll(fd, Buffer.from('hi'))
    t.equal(await got, 'hi', `connected to ${host}`)
    closeQuietly(fd)
    await new Promise((res) => server.close(res))
  }
  const server = createServer()
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res))
  const { port } = server.address() as AddressInfo
  await new Promise((res) => server.close(res))
  t.throws(() => connectTcp('127.0.0.1', port), /connect \(127\.0\.0\.1:\d+\): Connection refused \(ECONNREFUSED\)/)
  t.throws(() => connectTcp('localhost', 1), /not a numeric IP address/)
})
