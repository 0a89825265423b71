// The daemon's side of lazy-pages.socket: CRIU's restore connect()s to the RELATIVE name
// "lazy-pages.socket" from inside its work dir, so we must listen on exactly that file.
import { ServerSocket, passSender } from '@criu-pipes/sys'

export const LAZY_PAGES_SOCKET = 'lazy-pages.socket'
/** CRIU's listen(fd, 10); only one connection is ever accepted. */
const BACKLOG = 10

/**
 * Listens on lazy-pages.socket in the work dir open at `workDirFd` (checked by openPrivateDir):
 * a live socket there is refused, a stale one replaced. Bound through /proc/self/fd, so a work
 * dir too deep for sun_path needs no chdir(). The connection accepted says who sent each uffd
 * (SCM_PIDFD; before Linux 6.5, SCM_CREDENTIALS): fail-stop signals only those (fail-stop.ts).
 */
export function listenLazySocket(workDirFd: number, workDir: string): ServerSocket {
  const listener = ServerSocket.listen(workDirFd, LAZY_PAGES_SOCKET, workDir, BACKLOG)
  try {
    passSender(listener.fd) // set before any connect: the accepted socket inherits it
  } catch (e) {
    listener.close()
    throw e
  }
  return listener
}
