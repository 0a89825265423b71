// The lazy final round at the source (modes postcopy and hybrid): `criu dump --lazy-pages` with
// its page server on a socketpair (uffd-serve's startPageServer, as page-feed runs it), its images
// (everything but the lazy memory) sent as one image on the channel, then page-feed's Feeder on
// the same channel until the destination has every page. The process is frozen from the dump's
// start, runs at the destination from the restore's end (FTSR: the daemon's first PAGE_PUSH), and
// is killed here by the dump at PS_IOV_CLOSE only once every page is there. Any other end drops
// the page-server session without PS_IOV_CLOSE, and the dump resumes the process here
// (page-server-source.ts, the held-back byte).
import { join } from 'node:path'
import { closeQuietly, openPrivateDir, pathAt } from '@criu-pipes/sys'
import { REF_HASH_BYTES, readIndex } from '@criu-pipes/framing'
import { LOG_INFO, Log, loadImageSet, startPageServer, type PageServerCommand } from '@criu-pipes/lazy-pages'
import { Feeder } from '@criu-pipes/page-feed'
import { CRIU, logTail } from './criu.js'
import { sendImages } from './send-images.js'

/**
 * How long the dump may take to exit once its session is over: it kills (or, after a failure,
 * resumes) the frozen tree and cleans up (page-feed's own bound).
 */
const DUMP_EXIT_MS = 60_000
const PAGE = 4096

export interface LazySpec {
  pid: number
  /** The dump's images directory (created here, in the source's private work dir). */
  dir: string
  /** The Feeder's log. */
  log: string
  /**
   * hybrid: the index of the last running round (img-split --index-out), which the destination
   * holds as its base: the pages it holds go as references (PAGE_REF), not bytes.
   */
  baseIndex: string | null
  channel: { readFd: number; writeFd: number }
  /** The lazy phase's progress: bytes of the images and pages put on the channel so far. */
  onSent?: (bytes: number) => void
}

export interface LazyResult {
  /** The images and every page that crossed. */
  bytes: number
  /** From the dump's start until its images were written: the non-memory state. */
  freezeMs: number
  /** From the dump's start until the process ran at the destination (the daemon's first PAGE_PUSH, FTSR). */
  downtimeMs: number | null
}

export async function lazyRound(s: LazySpec): Promise<LazyResult> {
  const t0 = performance.now()
  const log = Log.toFile(s.log, LOG_INFO)
  let restoredAt: number | null = null
  let dump: PageServerCommand | undefined
  try {
    dump = await startPageServer([CRIU, 'dump', '-t', String(s.pid), '-D', s.dir, '-o', 'dump.log', '--lazy-pages'], 'auto')
  } catch (e) {
    log.close()
    throw new Error(`criu dump --lazy-pages: ${(e as Error).message}: ${logTail(join(s.dir, 'dump.log'))}`)
  }
  const freezeMs = Math.round(performance.now() - t0)
  let bytes: number
  const dirFd = openPrivateDir(s.dir)
  try {
    const images = loadImageSet(pathAt(dirFd), s.dir)
    bytes = sendImages(dirFd, s.dir, s.channel.writeFd)
    const base = s.baseIndex !== null ? readIndex(s.baseIndex) : undefined
    const imageBytes = bytes
    const onSent = s.onSent && ((n: number): void => s.onSent!(imageBytes + n))
    const stats = new Feeder(images, dump.source, s.channel.readFd, s.channel.writeFd, log, {
      base, onRestored: () => { restoredAt = performance.now() }, ...(onSent ? { onSent } : {}),
    }).run()
    bytes += (stats.pushedPages + stats.answeredPages - stats.refPages) * PAGE + stats.refPages * REF_HASH_BYTES
  } catch (e) {
    // Without PS_IOV_CLOSE the dump resumes the frozen process: wait for that before anyone reports.
    dump.source.abort()
    const ended = await dump.exit(DUMP_EXIT_MS)
    throw new Error(`${(e as Error).message}; the page-server session was dropped, so the dump resumed the process (it ${ended ?? 'still runs'})`)
  } finally {
    closeQuietly(dirFd)
    log.close()
  }
  const ended = await dump.exit(DUMP_EXIT_MS)
  if (ended !== 'exited 0') {
    // Past PS_IOV_CLOSE: the copy has everything; whether the process here is gone, only the log says.
    throw new Error(`the destination has every page, but the dump ${ended ?? 'still runs'} after PS_IOV_CLOSE: ${logTail(join(s.dir, 'dump.log'))} (the process may run on here)`)
  }
  const at: number | null = restoredAt
  return { bytes, freezeMs, downtimeMs: at === null ? null : Math.round(at - t0) }
}
