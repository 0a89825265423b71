// The destination half: the channel is stdin (from the source) and stdout (to it). Each pre-copy
// round is extracted (img-join's extract, with the previous round as its --base) into a fresh
// base directory, and the previous one removed; the final round is drained and served to
// `criu restore --stream` (img-buffer's serve, with the last base as --base), or, lazy, restored
// with `criu restore --lazy-pages` and its pages from the channel (lazy-restore.ts). Everything lives in
// one directory of its own under the private work dir -W, removed at the end, success or not:
// once the process runs, its images are of no further use.
import { openSync, closeSync, readFileSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { closeQuietly, mkdirAt, openPrivateDir } from '@criu-pipes/sys'
import { MigrateChannel, RoundStatus, writeMigrate, type MigrateMessage, type ExtReadOptions } from '@criu-pipes/framing'
import { extract } from '@criu-pipes/img-join'
import { SERVE_SOCKET } from '@criu-pipes/streamer'
import { serve } from '@criu-pipes/img-buffer'
import { modeOf, type ReceiveOptions } from './options.js'
import { startCriu, criuFailed } from './criu.js'
import { restoreLazy } from './lazy-restore.js'
import { MigrateError } from './migrate-error.js'

const IN = 0, OUT = 1
/**
 * sun_path holds 108 bytes with its NUL; CRIU cuts a longer socket path short without a word and
 * then fails to connect ("criu restore failed", no log): a -W that long is refused at the start.
 */
const SOCKET_PATH_MAX = 107
/** The sockets CRIU connects to under our directory: img-buffer's (streamed), uffd-serve's (lazy). */
const SOCKETS = [join('restore', SERVE_SOCKET), join('lazy', 'lazy-pages.socket')]

/** Refuses a work dir whose sockets would be too long for CRIU (see SOCKET_PATH_MAX). */
function checkSocketRoom(here: string): void {
  const longest = SOCKETS.map(s => join(here, s)).reduce((a, b) => (Buffer.byteLength(b) > Buffer.byteLength(a) ? b : a))
  const n = Buffer.byteLength(longest)
  if (n > SOCKET_PATH_MAX) {
    throw new Error(`-W ${dirname(dirname(longest))}: too long for CRIU's sockets (${longest} is ${n} bytes, at most ${SOCKET_PATH_MAX}): use a shorter work dir`)
  }
}

export async function receive(o: ReceiveOptions): Promise<void> {
  const workFd = openPrivateDir(o.workDir, { create: true })
  const name = `migrate-${randomBytes(6).toString('hex')}`
  let made = false
  let phase = 'hello'
  let round = 0
  // Once the page stream runs, the channel is its: a control message there would be garbage to
  // the feeder, which sees the channel end instead (and this side's line goes to stderr).
  let paging = false
  let ctl: MigrateChannel | null = null
  try {
    checkSocketRoom(join(o.workDir, name))
    mkdirAt(workFd, name, 0o700, join(o.workDir, name))
    made = true
    const here = join(o.workDir, name)
    // Keyed (--decrypt), every control message is authenticated, and each image bound to its round.
    const session = MigrateChannel.destination(IN, OUT, o.read.key)
    ctl = session.channel
    const c = ctl
    const mode = modeOf(session.mode)
    if (!mode) throw new Error(`the source asked for mode ${session.mode}, which this build does not know`)
    let base: string | null = null
    for (;;) {
      phase = `round ${round + 1}`
      const m: MigrateMessage | null = c.read()
      if (m === null) throw new Error('the source closed the channel before the final round')
      if (m.kind !== 'round' || m.round !== round + 1) throw new Error(`expected round ${round + 1}, the source sent ${m.kind === 'round' ? `round ${m.round}` : `a ${m.kind} message`}`)
      round = m.round
      if (c.keyed && !m.lazy && m.streamId === undefined) throw new Error(`round ${round}: a keyed session announced no stream id`)
      // Keyed, only the stream the authenticated ROUND named: never another round's, replayed.
      const read: ExtReadOptions = { ...o.read, base, continues: true, ...(m.streamId ? { expectStream: m.streamId } : {}) }
      if (!m.final) {
        phase = `round ${round} (pre-copy)`
        const dir = join(here, `base${round}`)
        quietly(progressFd => extract({ shardFds: [IN], imagesDir: dir, extFiles: [], progressFd, ext: read }))
        // The new base holds every page (references resolved): the old one is of no use now.
        if (base) rmSync(base, { recursive: true, force: true })
        base = dir
        c.write({ kind: 'result', round, status: RoundStatus.KEPT, bytes: 0, pid: 0, error: '' })
        continue
      }
      if (m.lazy) {
        phase = `round ${round} (lazy)`
        paging = true
        const pid = await restoreLazy(join(here, 'lazy'), base, read, () => { phase = `round ${round} (lazy restore)` })
        c.write({ kind: 'result', round, status: RoundStatus.RESTORED, bytes: 0, pid, error: '' })
        return
      }
      phase = `round ${round} (final)`
      const pid = await restoreFinal(c, join(here, 'restore'), read, round, () => { phase = `round ${round} (restore)` })
      c.write({ kind: 'result', round, status: RoundStatus.RESTORED, bytes: 0, pid, error: '' })
      return
    }
  } catch (e) {
    const err = new MigrateError('destination', phase, (e as Error).message)
    // The source's hook is waiting for this round's answer (or the channel is gone already).
    if (!paging) {
      try {
        if (ctl) ctl.write({ kind: 'result', round, status: RoundStatus.FAILED, bytes: 0, pid: 0, error: err.message })
        else writeFailedHello(err.message)
      } catch { /* it sees the channel end */ }
    }
    throw err
  } finally {
    if (made) rmSync(join(o.workDir, name), { recursive: true, force: true })
    closeQuietly(workFd)
  }
}

/** The final round: drain and check the image, tell the source, serve `criu restore --stream -d`; the restored pid. */
async function restoreFinal(c: MigrateChannel, dir: string, read: ExtReadOptions, round: number, restoring: () => void): Promise<number> {
  const pidFile = join(dir, 'restored.pid')
  let settled = false
  const devNull = openSync('/dev/null', 'w')
  try {
    const served = serve({
      imagesDir: dir, shardFds: [IN], extFiles: [], progressFd: devNull, tcpListenRemap: new Map(), ext: read,
      // Drained and checked (references resolved, tags verified, nothing it cannot stream), before
      // the socket exists: the source's hook may now let CRIU kill the process there.
      accepted: () => {
        c.write({ kind: 'result', round, status: RoundStatus.RECEIVED, bytes: 0, pid: 0, error: '' })
        restoring()
      },
    }).finally(() => { settled = true })
    served.catch(() => { /* awaited below: not an unhandled rejection meanwhile */ })
    // serve() returns at its first await with the socket bound, or has already failed: that
    // shows once the rejection's handlers ran, before the next turn of the event loop.
    await new Promise(res => setImmediate(res))
    if (settled) { await served; throw new Error('internal: the image was served before CRIU started') }
    // Restore only once the source says its process is gone: never two copies running, and where
    // both share a pid namespace its pids are free.
    const go = c.read()
    if (go?.kind !== 'released' || go.round !== round) throw new Error(go ? `expected the source's release of round ${round}, it sent a ${go.kind} message` : 'the source closed the channel before it released the process')
    const criu = startCriu('restore', dir, ['--stream', '-d', '--pidfile', pidFile])
    await Promise.race([served, criu.exited.then(code => { throw criuFailed(criu, 'restore', code) })])
    const code = await criu.exited
    if (code !== 0) throw criuFailed(criu, 'restore', code)
    return Number(readFileSync(pidFile, 'utf8').trim())
  } finally {
    closeSync(devNull)
  }
}

/**
 * Before the session exists (a bad hello, keys that disagree), the source waits for a hello: a
 * FAILED result in its place, untagged, is its error line (it ends the migration, nothing more).
 */
function writeFailedHello(error: string): void {
  writeMigrate(OUT, { kind: 'result', round: 0, status: RoundStatus.FAILED, bytes: 0, pid: 0, error })
}

/** A library call whose progress lines (stats) nobody reads here: stdout is the channel. */
function quietly<T>(f: (progressFd: number) => T): T {
  const fd = openSync('/dev/null', 'w')
  try { return f(fd) } finally { closeSync(fd) }
}
