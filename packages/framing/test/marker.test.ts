import t from 'tap'
import { encodeMarker, decodeMarker, FramingError, checkFileName } from '../src/index.js'

const hex = (b: Buffer) => b.toString('hex')

t.test('byte-exact with criu-image-streamer (worked example of the reference)', async t => {
  t.equal(hex(encodeMarker({ seq: 0, body: { kind: 'filename', name: 'file.img' } })), '0a000000' + '1208' + Buffer.from('file.img').toString('hex'))
  t.equal(hex(encodeMarker({ seq: 1, body: { kind: 'file_data', size: 11 } })), '04000000' + '0801180b')
  t.equal(hex(encodeMarker({ seq: 2, body: { kind: 'file_eof' } })), '04000000' + '08022001')
  t.equal(hex(encodeMarker({ seq: 3, body: { kind: 'image_eof' } })), '04000000' + '08032801')
  t.equal(hex(encodeMarker({ seq: 1, body: { kind: 'file_data', size: 258048 } })), '06000000' + '08011880e00f')
  t.equal(hex(encodeMarker({ seq: 0, body: { kind: 'file_data', size: 0 } })), '02000000' + '1800', 'oneof 0 is still written')
})

t.test('round trip of large seq and sizes', async t => {
  for (const seq of [0, 1, 127, 128, 300, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
    for (const body of [{ kind: 'file_data', size: 0xffffffff }, { kind: 'filename', name: 'pages-1.img' }, { kind: 'file_eof' }, { kind: 'image_eof' }] as const) {
      const enc = encodeMarker({ seq, body })
      t.same(decodeMarker(enc.subarray(4)), { seq, body })
      t.equal(enc.readUInt32LE(0), enc.length - 4)
    }
  }
})

t.test('malformed and unknown markers are refused', async t => {
  const bad: [string, string, RegExp][] = [
    ['no body', '0801', /has no body/],
    ['file_eof false', '2000', /file_eof is not true/],
    ['image_eof 2', '2802', /image_eof is not true/],
    ['unknown field 6', '3001', /unknown marker field 6/],
    ['unknown wire type', '0d01020304', /unknown marker field 1 \(wire type 5\)/],
    ['varint past end', '0880', /varint runs past the end/],
    ['name past end', '1205616263', /field 2 runs past the end/],
    // Stricter than protobuf, whose last value wins: a reader taking the first would see another stream.
    ['seq twice', '08010802' + '2001', /seq given twice/],
    ['two bodies: file_eof then file_data', '0801' + '2001' + '1803', /two bodies/],
    ['two bodies: a name then file_eof', '0801' + '120161' + '2001', /two bodies/],
    ['two bodies: file_data then a name', '0801' + '1803' + '120161', /two bodies/],
    ['a name that is not UTF-8', '120361ff62', /file name is not UTF-8/],
    ['file_data > u32', '188080808010', /exceeds uint32/],
    ['11-byte varint', '08ffffffffffffffffffff01', /longer than 10 bytes|too large/],
  ]
  for (const [what, h, re] of bad) {
    t.throws(() => decodeMarker(Buffer.from(h, 'hex')), re, what)
  }
  t.throws(() => encodeMarker({ seq: 1, body: { kind: 'filename', name: 'x'.repeat(11000) } }), /marker too long/)
  const bom = encodeMarker({ seq: 1, body: { kind: 'filename', name: '\ufeffa.img' } })
  t.same(encodeMarker(decodeMarker(bom.subarray(4))), bom, 'a leading U+FEFF is a character of the name: it re-encodes to the same bytes')
})

t.test('file names are checked', async t => {
  for (const n of ['', '/etc/passwd', 'a/b', '..', '../x', 'x..y', 'a\0b']) t.throws(() => checkFileName(n), FramingError, JSON.stringify(n))
  for (const n of ['pages-1.img', 'fs.tar', 'inventory.img', '.hidden']) t.equal(checkFileName(n), n)
})
