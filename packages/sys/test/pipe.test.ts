import t from 'tap'
import {
  makePipe, bytesQueued, spliceExact, writeAll, readFull, close, setPipeSize, pipeSize, trySetPipeSize,
  tee, vmspliceAll, Region, readToPtr, SysError, setNonBlocking, EPERM,
} from '../src/index.js'

t.test('splice moves exactly the bytes asked between pipes, FIONREAD counts them', async t => {
  const [r1, w1] = makePipe()
  const [r2, w2] = makePipe()
  writeAll(w1, Buffer.from('hello world'))
  t.equal(bytesQueued(r1), 11)
  t.equal(spliceExact(r1, w2, 5), 5)
  t.equal(bytesQueued(r1), 6)
  const out = Buffer.alloc(5)
  t.equal(readFull(r2, out), 5)
  t.equal(out.toString(), 'hello')
  close(w1)
  t.equal(spliceExact(r1, w2, 100), 6, 'stops at EOF')
  for (const fd of [r1, w2, r2]) close(fd)
})

t.test('pipe sizes: 1 MiB is granted, above pipe-max-size is EPERM', async t => {
  const [r, w] = makePipe()
  t.equal(setPipeSize(w, 1 << 20), 1 << 20)
  t.equal(pipeSize(r), 1 << 20)
  const max = Number((await import('node:fs')).readFileSync('/proc/sys/fs/pipe-max-size', 'utf8'))
  let err: unknown
  try { setPipeSize(w, max * 2) } catch (e) { err = e }
  t.ok(err instanceof SysError && err.errno === EPERM && /F_SETPIPE_SZ/.test(err.message), String(err))
  // The lazy-pages e2e test raises pipe-max-size for CRIU's page server while other test files
  // run, so the expectation is the limit read just now, not a fixed 1 MiB.
  t.equal(trySetPipeSize(w, max * 2), max, 'trySetPipeSize settles for pipe-max-size')
  close(r); close(w)
})

t.test('tee duplicates without consuming; vmsplice and Region round-trip', async t => {
  const [r1, w1] = makePipe()
  const [r2, w2] = makePipe()
  const region = new Region(8192)
  region.buffer().fill(0x5a)
  vmspliceAll(w1, region.ptr, 8192, false)
  t.equal(tee(r1, w2, 8192), 8192)
  t.equal(bytesQueued(r1), 8192)
  const dst = new Region(8192)
  t.equal(readToPtr(r2, dst.ptr, 8192), 8192)
  t.ok(dst.buffer().every(b => b === 0x5a))
  region.unmap(); dst.unmap()
  for (const fd of [r1, w1, r2, w2]) close(fd)
})

t.test('non-blocking fds: writeAll and readFull wait instead of failing', async t => {
  const [r, w] = makePipe()
  setNonBlocking(w, true)
  setNonBlocking(r, true)
  const big = Buffer.alloc(200_000, 7)
  const { spawn } = await import('node:child_process')
  // A child drains the pipe slowly enough that the 64 KiB pipe fills and writeAll must poll.
  const child = spawn('sh', ['-c', 'sleep 0.2; cat >/dev/null'], { stdio: [r, 'ignore', 'inherit'] })
  writeAll(w, big)
  close(w); close(r)
  await new Promise(res => child.on('exit', res))
  t.pass('wrote 200 KB through a 64 KiB non-blocking pipe')
})
