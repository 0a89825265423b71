// Byte-level protocols: the restore side of lazy-pages.socket, read piecewise, and the
// page-server client against a scripted server, in both wire versions.
import t from 'tap'
import type { Test } from 'tap'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { PAGE_SIZE } from '@criu-pipes/criu-image'
import { Region, acceptOne, closeQuietly, connectTcp, connectUnix, listenUnix, makePipe, readFull, sendFd, writeAll } from '@criu-pipes/sys'
import {
  PS_GET_REPLY, PageServerSource, RESTORE_FINISHED, RestoreChannel, RestoreProtocolError, decodeIov, encodeIov,
} from '../src/index.js'
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
    // The server's answer is queued before we ask: it is synchronous and answers in order anyway.
    // It gives 2 of the 3 pages asked for.
    writeAll(theirs, encodeIov(proto, { cmd: PS_GET_REPLY, nrPages: 2, vaddr: 0x10000, dstId: 77 }))
    writeAll(theirs, Buffer.concat([Buffer.alloc(PAGE_SIZE, 0xa1), Buffer.alloc(PAGE_SIZE, 0xa2)]))
    t.equal(src.read(77, 0x10000, 3, dst), 2, 'fewer pages than asked is fine')
    t.equal(dst.buffer(0, 1)[0], 0xa1)
    t.equal(dst.buffer(PAGE_SIZE, 1)[0], 0xa2)
    const get = Buffer.alloc(hs)
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
  t.throws(() => src.read(1, 0x1000, 1, dst), /closed the connection on GET pid 1 0x1000 x1/)
  src.abort()
})

t.test('a page-server session resets on abort: a lazy dump then sees a failed transfer and resumes its source', async (t) => {
  // (The orderly end, PS_IOV_CLOSE then a plain EOF, is seen by the e2e tests: the dump exits 0.)
  const server = createServer()
  const ended = new Promise<string>((res) => {
    server.once('connection', (sock) => {
      sock.once('error', (e: NodeJS.ErrnoException) => res(e.code ?? 'error'))
      sock.once('end', () => res('EOF'))
    })
  })
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res))
  PageServerSource.connect('127.0.0.1', (server.address() as AddressInfo).port, '4.1').abort()
  t.equal(await ended, 'ECONNRESET', 'a reset, not an EOF (which CRIU 4.1 takes for success)')
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
