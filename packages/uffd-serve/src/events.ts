// What each userfaultfd message means for the lazy state (criu/uffd.c handle_uffd_event).
// Non-cooperative events (fork, mremap, madvise, munmap) hold the thread that caused them until
// we read them, so this code never waits on anything but the page source.
import { PAGE_SIZE } from '@criu-pipes/criu-image'
import { ENOMEM, SysError, uffdUnregister } from '@criu-pipes/sys'
import type { UffdMsg } from '@criu-pipes/sys'
import { pageOf } from './lazy-process.js'
import type { LazyProcess } from './lazy-process.js'
import type { Transfer, Outcome } from './transfer.js'
import type { Log } from '@criu-pipes/lazy-pages'
import { LOG_DEBUG } from '@criu-pipes/lazy-pages'

const hex = (n: number): string => `0x${n.toString(16)}`

export class UffdProtocolError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UffdProtocolError'
  }
}

export interface EventResult {
  outcome: Outcome
  /** A process forked: its state, to be polled from now on. */
  child?: LazyProcess
}

const DONE: EventResult = { outcome: 'done' }

export function handlePagefault(p: LazyProcess, address: number, xfer: Transfer, log: Log): EventResult {
  const page = pageOf(address)
  if (log.enabled(LOG_DEBUG)) log.debug(`${p.label}: #PF at ${hex(page)}`)
  if (p.gone) return DONE
  p.chunk.reset()
  // Another thread faulted on it first; the pending copy will wake this one too.
  if (p.isInFlight(page)) return DONE
  const [piece] = p.ranges.take(page, page + PAGE_SIZE)
  if (piece === undefined) return { outcome: xfer.zero(p, page) }
  return { outcome: xfer.copy(p, piece, true) }
}

export function handleMessage(p: LazyProcess, msg: UffdMsg, xfer: Transfer, log: Log): EventResult {
  switch (msg.event) {
    case 'pagefault':
      return handlePagefault(p, msg.address, xfer, log)
    case 'fork': {
      const child = p.fork(msg.ufd)
      log.debug(`${p.label}: FORK: child with ufd=${msg.ufd}, ${child.ranges.pages} pages to go`)
      return { outcome: 'done', child }
    }
    case 'remap':
      log.debug(`${p.label}: REMAP: ${hex(msg.from)} -> ${hex(msg.to)} (${msg.len})`)
      p.remap(msg.from, msg.to, msg.len)
      return DONE
    case 'remove': {
      log.debug(`${p.label}: REMOVE: ${hex(msg.start)}(${hex(msg.end - msg.start)})`)
      // The VMA stays after madvise(DONTNEED): unregister it so that new faults there are
      // ordinary zero-fill faults, not requests for the old (discarded) contents.
      const res = p.gone ? { ok: true, errno: 0 } : uffdUnregister(p.fd, msg.start, msg.end - msg.start)
      if (!res.ok) {
        // The kernel's way to say the mm is gone.
        if (res.errno === ENOMEM) return { outcome: 'gone' }
        log.warn(`${p.label}: ${new SysError('ioctl(UFFDIO_UNREGISTER)', res.errno, `${hex(msg.start)}-${hex(msg.end)}`).message}`)
      }
      p.skipped += p.drop(msg.start, msg.end)
      return DONE
    }
    case 'unmap':
      log.debug(`${p.label}: UNMAP: ${hex(msg.start)}(${hex(msg.end - msg.start)})`)
      p.skipped += p.drop(msg.start, msg.end)
      return DONE
    case 'unknown':
      throw new UffdProtocolError(`${p.label}: unexpected uffd event 0x${msg.code.toString(16)}`)
  }
}
