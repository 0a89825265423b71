// The lazy final round at the destination (modes postcopy and hybrid): the images (everything but
// the lazy memory) extracted into a directory of the work dir (img-join's extract), then
// uffd-serve's daemon in this process with its page stream on stdin/stdout (what `uffd-serve
// --pages-fds 0,1` does) and `criu restore --lazy-pages -d` beside it. The daemon fails stop
// (uffd-serve's fail-stop.ts): if the source goes before every page is in, the restored tree is
// killed, never left to read zero pages. Returns the restored pid once every page is in place
// and the source has confirmed PAGES_DONE (its dump then kills the original there).
import { openSync, closeSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setNonBlocking } from '@criu-pipes/sys'
import type { ExtReadOptions } from '@criu-pipes/framing'
import { extract } from '@criu-pipes/img-join'
import { Log } from '@criu-pipes/lazy-pages'
import { parseOptions as uffdServeOptions, serve as uffdServe } from '@criu-pipes/uffd-serve'
import { startCriu, criuFailed, type CriuRun } from './criu.js'

const IN = 0, OUT = 1

/**
 * Extracts the lazy dump's images into `dir`, restores them lazily; the restored pid. `base`
 * (hybrid: the last running round, extracted) is where the page stream's references point.
 */
export async function restoreLazy(dir: string, base: string | null, read: ExtReadOptions, restoring: () => void): Promise<number> {
  const devNull = openSync('/dev/null', 'w')
  try {
    extract({ shardFds: [IN], imagesDir: dir, extFiles: [], progressFd: devNull, ext: { ...read, base: null, continues: true } })
  } finally {
    closeSync(devNull)
  }
  restoring()
  const pidFile = join(dir, 'restored.pid')
  const opts = uffdServeOptions(['-D', dir, '--pages-fds', `${IN},${OUT}`, ...(base !== null ? ['--base', base] : [])])
  let criu: CriuRun | undefined
  // Once lazy-pages.socket listens (in the images dir, CRIU's default work dir), the restore starts.
  const served = uffdServe(opts, Log.silent(), () => { criu = startCriu('restore', dir, ['--lazy-pages', '-d', '--pidfile', pidFile]) })
  served.catch(() => { /* awaited below: not an unhandled rejection meanwhile */ })
  // serve() waits for the feeder's PAGE_HELLO and listens before its first await: by then either
  // the restore has started or serve has failed.
  await new Promise(res => setImmediate(res))
  const run = criu
  if (run === undefined) { await served; throw new Error('internal: the daemon ended before the restore started') }
  await Promise.race([served, run.exited.then(code => { if (code !== 0) throw criuFailed(run, 'restore --lazy-pages', code) })])
  await served
  const code = await run.exited
  if (code !== 0) throw criuFailed(run, 'restore --lazy-pages', code)
  // The page stream left the channel non-blocking; the control messages that follow block.
  setNonBlocking(IN, false)
  setNonBlocking(OUT, false)
  return Number(readFileSync(pidFile, 'utf8').trim())
}
