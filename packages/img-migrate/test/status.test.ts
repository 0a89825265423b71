import t, { type Test } from 'tap'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MigrateStatus } from '../src/status.js'

/** Runs `use` on a status line writing into a file (as if to a terminal when `tty`); returns what it wrote. */
async function written(t: Test, tty: boolean, use: (line: MigrateStatus) => void | Promise<void>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'status-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'out')
  const fd = openSync(file, 'w')
  try {
    await use(new MigrateStatus(tty, fd))
  } finally {
    closeSync(fd)
  }
  return readFileSync(file, 'utf8')
}

t.test('the status line names the phase, the bytes sent, the rate and the dirty rate; nothing when not on a terminal', async t => {
  const shown = await written(t, true, line => {
    line.measured(0.012)
    line.sent(2e6)
    line.phase('round 2 (lazy)')
    line.clear()
  })
  t.match(shown, /^\r\x1b\[Kimg-migrate: round 2 \(lazy\), 2\.0 MB sent, [\d.]+ [KMG]B\/s, dirty 1\.2 %\/s, [\d.]+ s\r\x1b\[K$/)
  const quiet = await written(t, false, line => {
    line.phase('hello')
    line.clear()
  })
  t.equal(quiet, '')
})

t.test('the lazy phase moves the line as its pages go, a redraw a quarter second apart at most', async t => {
  const shown = await written(t, true, async line => {
    line.sent(1e6)
    line.phase('round 2 (lazy)')
    line.sending('round 2 (lazy)', 5e6) // right after the phase's draw: skipped
    await new Promise(res => setTimeout(res, 300))
    line.sending('round 2 (lazy)', 7e6)
  })
  const draws = shown.split('\r\x1b[K').filter(Boolean)
  t.equal(draws.length, 2, 'the phase, then one redraw')
  t.match(draws[1], /^img-migrate: round 2 \(lazy\), 8\.0 MB sent/, "the round's bytes so far on top of the rounds before")
})
