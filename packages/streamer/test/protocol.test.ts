import t from 'tap'
import { makePipe, writeAll, close } from '@criu-pipes/sys'
import { encodeRequest, readRequest, writeReply, readReply } from '../src/index.js'

const through = (bytes: Buffer) => {
  const [r, w] = makePipe()
  writeAll(w, bytes)
  close(w)
  return r
}

t.test('requests: byte-exact with CRIU, read without reading further', async t => {
  t.equal(encodeRequest('inventory.img').toString('hex'), '0f000000' + '0a0d' + Buffer.from('inventory.img').toString('hex'))
  const long = 'x'.repeat(200) + '.img'
  const fd = through(Buffer.concat([encodeRequest('pages-1.img'), encodeRequest(long), Buffer.from([0])]))
  t.equal(readRequest(fd), 'pages-1.img')
  t.equal(readRequest(fd), long, 'a two-byte varint length')
  const rest = Buffer.alloc(2)
  t.equal((await import('@criu-pipes/sys')).readFull(fd, rest), 1, 'the byte after the request is left for recvmsg')
  close(fd)
  t.equal(readRequest(through(Buffer.alloc(0))), null, 'EOF at a message boundary: no more requests')
})

t.test('malformed requests are refused', async t => {
  const cases: [string, Buffer, RegExp][] = [
    ['closed inside the length', Buffer.from([5, 0]), /closed inside a request/],
    ['closed inside the body', Buffer.from([9, 0, 0, 0, 0x0a, 7, 0x61]), /closed inside a request/],
    ['length 0', Buffer.from([0, 0, 0, 0]), /out of range/],
    ['length over 10 KiB', Buffer.from([0, 0x40, 0, 0]), /out of range/],
    ['wrong tag', Buffer.from([3, 0, 0, 0, 0x12, 1, 0x61]), /malformed request \(tag 0x12\)/],
    ['length mismatch', Buffer.from([4, 0, 0, 0, 0x0a, 5, 0x61, 0x62]), /length mismatch/],
    ['escaping name', encodeRequest('../etc/passwd'), /bad image file name/],
  ]
  for (const [what, bytes, re] of cases) t.throws(() => readRequest(through(bytes)), re, what)
})

t.test('replies: exists is always encoded (proto2 required)', async t => {
  for (const exists of [true, false]) {
    const [r, w] = makePipe()
    writeReply(w, exists)
    close(w)
    const b = Buffer.alloc(6)
    const { readFull } = await import('@criu-pipes/sys')
    t.equal(readFull(r, b), 6)
    t.equal(b.toString('hex'), exists ? '020000000801' : '020000000800')
    close(r)
    t.equal(readReply(through(b)), exists)
  }
  t.throws(() => readReply(through(Buffer.from('020000000802', 'hex'))), /malformed reply/)
})
