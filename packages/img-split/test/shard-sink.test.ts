// The shard sinks' contract, on real fds: drained() once the consumer holds every byte, failed()
// once it never can.
import t from 'tap'
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makePipe, close, readFull, writeAll, listenUnix, connectUnix, acceptOne } from '@criu-pipes/sys'
import { shardSink } from '../src/shard-sink.js'

t.test('a pipe: drained once read empty; failed if its reader leaves bytes behind', async t => {
  const [r, w] = makePipe()
  const sink = shardSink(w, 'pipe', 0)
  writeAll(w, Buffer.from('image_eof'))
  sink.finish()
  t.notOk(sink.drained(), 'bytes still in the pipe')
  t.equal(sink.failed(), null, 'but its reader is there')
  readFull(r, Buffer.alloc(4))
  t.notOk(sink.drained(), 'part read')
  close(r)
  t.match(sink.failed(), /^shard 0 \(fd \d+\): its reader went away \(EPIPE\) with 5 bytes unread$/, 'the reader left 5 bytes')
  close(w)

  const [r2, w2] = makePipe()
  const done = shardSink(w2, 'pipe', 1)
  writeAll(w2, Buffer.from('all'))
  readFull(r2, Buffer.alloc(3))
  close(r2)
  t.ok(done.drained(), 'a reader that took everything and left')
  t.equal(done.failed(), null, 'did get the whole shard')
  close(w2)
})

t.test('a regular file: drained once fsynced', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'sink-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const fd = openSync(join(dir, 'shard'), 'w')
  const sink = shardSink(fd, 'file', 0)
  writeAll(fd, Buffer.from('stream'))
  t.notOk(sink.drained(), 'not before finish()')
  sink.finish()
  t.ok(sink.drained(), 'written and fsynced')
  t.equal(sink.failed(), null)
  closeSync(fd)
  t.equal(readFileSync(join(dir, 'shard'), 'utf8'), 'stream')
})

t.test('a UNIX socket: drained once its peer read everything, never when it left bytes unread', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'sink-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  let n = 0
  const pair = (): [number, number] => {
    const path = join(dir, `s${n++}`)
    const l = listenUnix(path)
    const c = connectUnix(path)
    const a = acceptOne(l)
    close(l)
    return [a, c]
  }
  const [ours, peer] = pair()
  const sink = shardSink(ours, 'socket', 0)
  writeAll(ours, Buffer.from('image_eof'))
  sink.finish()
  t.notOk(sink.drained(), 'bytes not yet read by the peer')
  // The peer leaves with the bytes unread: the kernel resets us and drops the queue, which then
  // reads empty. That must never count as drained.
  close(peer)
  t.notOk(sink.drained(), 'an emptied queue after a reset is not a drained shard')
  t.match(sink.failed(), /^shard 0 \(fd \d+\): its reader went away \(ECONNRESET\)/)
  close(ours)

  const [ours2, peer2] = pair()
  const done = shardSink(ours2, 'socket', 1)
  writeAll(ours2, Buffer.from('all'))
  readFull(peer2, Buffer.alloc(3))
  close(peer2)
  t.ok(done.drained(), 'a peer that read everything and left')
  t.equal(done.failed(), null)
  close(ours2)
})

t.test('/dev/null: nothing to wait for', async t => {
  const fd = openSync('/dev/null', 'w')
  const sink = shardSink(fd, 'other', 0)
  sink.finish()
  t.ok(sink.drained())
  t.equal(sink.failed(), null)
  closeSync(fd)
})
