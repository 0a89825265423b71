// img-migrate's channel: control messages round-trip and are refused when damaged, and an image
// inside the channel is read up to its image_eof, leaving the next control message in place.
import t, { type Test } from 'tap'
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DecodingReader, FramingError, ImageReader, RoundStatus, decodeMigrate, encodeMarker, encodeMigrate, readMigrate, type MarkerBody,
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
    { kind: 'hello', version: 1, mode: 2 },
    { kind: 'round', round: 3, final: true, lazy: false },
    { kind: 'round', round: 3, final: true, lazy: true },
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
  const hello = encodeMigrate({ kind: 'hello', version: 1, mode: 1 }).subarray(4)
  const wrongVersion = Buffer.from(hello); wrongVersion[wrongVersion.length - 3] = 9
  t.throws(() => decodeMigrate(wrongVersion), { message: /version 9/ })
  t.throws(() => decodeMigrate(encodeMarker({ seq: 0, body: { kind: 'image_eof' } }).subarray(4)), FramingError, 'an image marker is no control message')
  t.throws(() => readMigrate(fileFd(t, Buffer.from([0, 0x10, 0, 0]))), { message: /control marker of 4096 bytes/ })
  t.throws(() => readMigrate(fileFd(t, encodeMigrate({ kind: 'round', round: 1, final: false, lazy: false }).subarray(0, 5))), { message: /truncated/ })
  t.equal(readMigrate(fileFd(t, Buffer.alloc(0))), null, 'EOF between messages')
})

t.test('an image inside the channel ends at its image_eof; the next control message follows', async t => {
  const channel = Buffer.concat([encodeMigrate({ kind: 'round', round: 1, final: true, lazy: false }), image(), encodeMigrate({ kind: 'hello', version: 1, mode: 1 })])
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
    t.same(readMigrate(fd), { kind: 'hello', version: 1, mode: 1 }, `${reader}: the channel goes on after it`)
  }
  // Without `continues`, what follows image_eof is damage, as before.
  const r = new ImageReader([fileFd(t, Buffer.concat([image(), encodeMigrate({ kind: 'hello', version: 1, mode: 1 })]))])
  t.throws(() => { for (let ev = r.next(); ev.type !== 'end'; ev = r.next()) if (ev.type === 'data') r.payloadInto(Buffer.alloc(3)) }, { message: /shard 0: unknown marker field 16/ }, 'a reader that does not know the channel refuses it')
})
