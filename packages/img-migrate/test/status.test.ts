import t from 'tap'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MigrateStatus } from '../src/status.js'

t.test('the status line names the phase, the bytes sent, the rate and the dirty rate; nothing when not on a terminal', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'status-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'tty')
  const fd = openSync(file, 'w')
  const line = new MigrateStatus(true, fd)
  line.measured(0.012)
  line.sent(2e6)
  line.phase('round 2 (lazy)')
  line.clear()
  closeSync(fd)
  t.match(readFileSync(file, 'utf8'), /^\r\x1b\[Kimg-migrate: round 2 \(lazy\), 2\.0 MB sent, [\d.]+ [KMG]B\/s, dirty 1\.2 %\/s, [\d.]+ s\r\x1b\[K$/)
  const off = join(dir, 'pipe')
  const fd2 = openSync(off, 'w')
  const quiet = new MigrateStatus(false, fd2)
  quiet.phase('hello')
  quiet.clear()
  closeSync(fd2)
  t.equal(readFileSync(off, 'utf8'), '')
})

t.test('the lazy phase moves the line as its pages go, a redraw a quarter second apart at most', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'status-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'tty')
  const fd = openSync(file, 'w')
  const line = new MigrateStatus(true, fd)
  line.sent(1e6)
  line.phase('round 2 (lazy)')
  line.sending('round 2 (lazy)', 5e6) // right after the phase's draw: skipped
  await new Promise(res => setTimeout(res, 300))
  line.sending('round 2 (lazy)', 7e6)
  closeSync(fd)
  const draws = readFileSync(file, 'utf8').split('\r\x1b[K').filter(Boolean)
  t.equal(draws.length, 2, 'the phase, then one redraw')
  t.match(draws[1], /^img-migrate: round 2 \(lazy\), 8\.0 MB sent/, "the round's bytes so far on top of the rounds before")
})
