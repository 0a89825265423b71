import { S_IFDIR, S_IFIFO, S_IFREG, S_IFSOCK, statFd, type FileStat } from '@criu-pipes/sys'
import { UsageError } from './usage-error.js'

export type FdKind = 'pipe' | 'file' | 'socket' | 'other'

// statx, not node:fs: an fs fstat of a FIFO or socket breaks the loading of modules after it
// (nodejs/node#51142; sys/file.ts).
export function fdKind(fd: number): FdKind {
  return kindOf(statOpen(fd, `fd ${fd} is not open`))
}

function statOpen(fd: number, notOpen: string): FileStat {
  try { return statFd(fd) } catch { throw new UsageError(notOpen) }
}

const kindOf = (st: FileStat): FdKind => st.type === S_IFIFO ? 'pipe' : st.type === S_IFREG ? 'file' : st.type === S_IFSOCK ? 'socket' : 'other'

/**
 * Shards and external files may be any fd that reads or writes a byte stream: pipes move by
 * splice(2) without a copy; files, /dev/null and sockets work too (sshd hands a remote command
 * socketpairs, not pipes), with a copy where splice cannot go. A directory is a mistake.
 */
export function checkDataFd(fd: number, what: string): FdKind {
  const st = statOpen(fd, `${what}: fd ${fd} is not open`)
  if (st.type === S_IFDIR) throw new UsageError(`${what}: fd ${fd} is a directory`)
  return kindOf(st)
}
