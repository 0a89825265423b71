// The log never throws: a failed write drops its lines, counts them, and says so once, as soon as
// the log takes a write again.
import t from 'tap'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { close, dup2, makePipe } from '@criu-pipes/sys'
import { LOG_DEBUG, Log } from '../src/log.js'

t.test('a log on /dev/full drops lines; when the fd takes writes again, one line counts them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'uffd-log-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const fd = openSync('/dev/full', 'w')
  const log = Log.toFd(fd, LOG_DEBUG)
  log.warn('lost one')
  log.debug('lost two')
  log.flush()
  t.equal(log.droppedLines, 2)
  // The same fd number now refers to a file that takes writes: the log "became writable again".
  const file = openSync(join(dir, 'log'), 'w')
  dup2(file, fd)
  closeSync(file)
  log.warn('kept')
  t.equal(log.droppedLines, 0)
  log.warn('kept too')
  log.close()
  const lines = readFileSync(join(dir, 'log'), 'utf8').trimEnd().split('\n')
  t.equal(lines.length, 3)
  t.match(lines[0], /^\(\d\d\.\d{6}\) Warn {2}\(uffd-serve\): 2 log lines were dropped: the log write failed \(ENOSPC\)$/)
  t.match(lines[1], /Warn {2}\(uffd-serve\): kept$/)
  t.match(lines[2], /kept too$/)
  closeSync(fd)
})

t.test('a pipe whose reader has gone: EPIPE is dropped, not thrown', async (t) => {
  const [r, w] = makePipe()
  close(r)
  const log = Log.toFd(w, LOG_DEBUG)
  t.doesNotThrow(() => { log.error('nobody reads this'); log.flush() })
  t.equal(log.droppedLines, 1)
  close(w)
})
