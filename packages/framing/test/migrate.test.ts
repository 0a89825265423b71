// img-migrate's channel: control messages round-trip and are refused when damaged, and an image
// inside the channel is read up to its image_eof, leaving the next control message in place.
import t, { type Test } from 'tap'
import { closeQuietly, makePipe, readFull, writeAll } from '@criu-pipes/sys'
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DecodingReader, FramingError, ImageReader, MigrateChannel, RoundStatus, decodeMigrate, encodeMarker, encodeMigrate, readMigrate, type MarkerBody,
  type MigrateMessage,
} from '../src/index.js'

function fileFd(t: Test, bytes: Buffer): number {
  const dir = mkdtempSync(join(tmpdir(), 'migrate-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'c'), bytes)
  return openSync(join(dir, 'c'), 'r')
}

const image = (): Buffer => {
  const bodies: MarkerBody[] = [{ kind: 'filename', name: 'a.img' }, { kind: 'file_data', size: 3 }, { kind: 'file_eof' }, { kind: 'image_eof' }]
  return Buffer.concat(bodies.flatMap((body, seq) => [encodeMarker({ seq, body }), seq === 1 ? Buffer.from('abc') : Buffer.alloc(0)]))
}

t.test('every control message round-trips', async t => {
  const msgs: MigrateMessage[] = [
    { kind: 'hello', version: 2, mode: 2, nonce: Buffer.alloc(16, 7), keyed: true },
    { kind: 'hello', version: 2, mode: 1, nonce: Buffer.alloc(16, 8), keyed: false },
    { kind: 'round', round: 3, final: true, lazy: false },
    { kind: 'round', round: 3, final: true, lazy: true },
    { kind: 'round', round: 2, final: false, lazy: false, streamId: Buffer.alloc(16, 9) },
    { kind: 'round', round: 1, final: false, lazy: false },
    { kind: 'released', round: 4 },
    { kind: 'result', round: 2, status: RoundStatus.FAILED, bytes: 123456789, pid: 0, error: 'destination: no space left' },
    { kind: 'result', round: 5, status: RoundStatus.RESTORED, bytes: 0, pid: 4242, error: '' },
  ]
  for (const m of msgs) t.same(decodeMigrate(encodeMigrate(m).subarray(4)), m)
  const long = encodeMigrate({ kind: 'result', round: 1, status: RoundStatus.FAILED, bytes: 0, pid: 0, error: 'é'.repeat(2000) })
  const back = decodeMigrate(long.subarray(4))
  t.ok(back.kind === 'result' && back.error.length > 400 && !back.error.includes('\uFFFD'), 'a long error is cut on a character boundary')
})

t.test('damaged or foreign control markers are refused', async t => {
  const hello = encodeMigrate({ kind: 'hello', version: 2, mode: 1, nonce: Buffer.alloc(16, 1) }).subarray(4)
  const wrongVersion = Buffer.from(hello); wrongVersion[4] = 9 // after the field key (2 bytes), its length, sub-field 1's key
  t.throws(() => decodeMigrate(wrongVersion), { message: /version 9/ })
  t.throws(() => decodeMigrate(encodeMarker({ seq: 0, body: { kind: 'image_eof' } }).subarray(4)), FramingError, 'an image marker is no control message')
  t.throws(() => readMigrate(fileFd(t, Buffer.from([0, 0x10, 0, 0]))), { message: /control marker of 4096 bytes/ })
  t.throws(() => readMigrate(fileFd(t, encodeMigrate({ kind: 'round', round: 1, final: false, lazy: false }).subarray(0, 5))), { message: /truncated/ })
  t.equal(readMigrate(fileFd(t, Buffer.alloc(0))), null, 'EOF between messages')
})

t.test('an image inside the channel ends at its image_eof; the next control message follows', async t => {
  const channel = Buffer.concat([encodeMigrate({ kind: 'round', round: 1, final: true, lazy: false }), image(), encodeMigrate({ kind: 'released', round: 1 })])
  for (const reader of ['plain', 'decoding'] as const) {
    const fd = fileFd(t, channel)
    t.same(readMigrate(fd), { kind: 'round', round: 1, final: true, lazy: false })
    const r = reader === 'plain' ? new ImageReader([fd], true) : new DecodingReader([fd], { key: null, threads: 1, continues: true })
    const seen: string[] = []
    for (let ev = r.next(); ev.type !== 'end'; ev = r.next()) {
      seen.push(ev.type)
      if (ev.type === 'data') r.payloadInto(Buffer.alloc(3))
    }
    if (r instanceof DecodingReader) r.close()
    t.same(seen, ['open', 'data', 'close'], `${reader}: the image`)
    t.same(readMigrate(fd), { kind: 'released', round: 1 }, `${reader}: the channel goes on after it`)
  }
  // Without `continues`, what follows image_eof is damage, as before.
  const r = new ImageReader([fileFd(t, Buffer.concat([image(), encodeMigrate({ kind: 'released', round: 1 })]))])
  t.throws(() => { for (let ev = r.next(); ev.type !== 'end'; ev = r.next()) if (ev.type === 'data') r.payloadInto(Buffer.alloc(3)) }, { message: /shard 0: unknown marker field 1[6-9]/ }, 'a reader that does not know the channel refuses it')
})

/** Both sides of a session over two pipes, in one thread (each side's writes fit in a pipe). */
function session(t: Test, key: Buffer | null, dstKey: Buffer | null = key): { src: MigrateChannel; dst: MigrateChannel; toDst: number; toSrc: number } {
  const a = makePipe(), b = makePipe() // a: source -> destination, b: back
  t.teardown(() => { for (const fd of [...a, ...b]) closeQuietly(fd) })
  const src = MigrateChannel.source(b[0], a[1], key, 3)
  const { channel: dst, mode } = MigrateChannel.destination(a[0], b[1], dstKey)
  t.equal(mode, 3, 'the destination learns the mode')
  src.answered()
  return { src, dst, toDst: a[1], toSrc: b[1] }
}

const round = (n: number): MigrateMessage => ({ kind: 'round', round: n, final: false, lazy: false, streamId: Buffer.alloc(16, n) })

t.test('a session, keyed or not: messages pass both ways in order', async t => {
  for (const key of [null, Buffer.alloc(32, 1)]) {
    const { src, dst } = session(t, key)
    src.write(round(1))
    src.write({ kind: 'released', round: 1 })
    t.same(dst.read(), round(1))
    t.same(dst.read(), { kind: 'released', round: 1 })
    dst.write({ kind: 'result', round: 1, status: RoundStatus.KEPT, bytes: 0, pid: 0, error: '' })
    t.same(src.read(), { kind: 'result', round: 1, status: RoundStatus.KEPT, bytes: 0, pid: 0, error: '' })
  }
})

t.test('keyed: a forged, altered, replayed or reordered message is refused', async t => {
  const key = Buffer.alloc(32, 1)
  let s = session(t, key)
  writeAll(s.toDst, encodeMigrate({ kind: 'released', round: 1 }))
  t.throws(() => s.dst.read(), { message: /message 0 from the source \(released\) has no tag/ }, 'an untagged message (an injected RELEASED)')
  s = session(t, key)
  s.src.write(round(1))
  s.src.write(round(2))
  // Capture the two frames off the pipe and send them back in the other order.
  const first = readMigrateRaw(s), second = readMigrateRaw(s)
  writeAll(s.toDst, second); writeAll(s.toDst, first)
  t.throws(() => s.dst.read(), { message: /fails its tag/ }, 'reordered')
  s = session(t, key)
  s.src.write(round(1))
  const frame = readMigrateRaw(s)
  writeAll(s.toDst, frame); writeAll(s.toDst, frame)
  t.same(s.dst.read(), round(1))
  t.throws(() => s.dst.read(), { message: /message 1 .* fails its tag/ }, 'replayed')
  s = session(t, key)
  s.src.write(round(1))
  const altered = readMigrateRaw(s)
  altered[altered.length - 20]! ^= 1 // inside the stream id
  writeAll(s.toDst, altered)
  t.throws(() => s.dst.read(), { message: /fails its tag/ }, 'altered')
  // A message of another session under the same key (a replay of an old migration).
  const old = session(t, key)
  old.src.write(round(1))
  const s2 = session(t, key)
  writeAll(s2.toDst, readMigrateRaw(old))
  t.throws(() => s2.dst.read(), { message: /fails its tag/ }, 'from another session')
  // A destination with another key cannot answer for this one.
  t.throws(() => session(t, key, Buffer.alloc(32, 2)), { message: /message 0 from the destination \(hello\) fails its tag/ }, 'the wrong key at the destination')
})

t.test('keying must agree, and says which side lacks what', async t => {
  t.throws(() => session(t, null, Buffer.alloc(32, 1)), { message: /the source sends without a key: run it with --encrypt/ })
  t.throws(() => session(t, Buffer.alloc(32, 1), null), { message: /the source sends keyed: run this side with --decrypt/ })
})

/** The next raw frame the source wrote, taken off the destination's pipe (length prefix included). */
function readMigrateRaw(s: { dst: MigrateChannel }): Buffer {
  const head = Buffer.alloc(4)
  readFull(s.dst.readFd, head)
  const body = Buffer.alloc(head.readUInt32LE(0))
  readFull(s.dst.readFd, body)
  return Buffer.concat([head, body])
}
