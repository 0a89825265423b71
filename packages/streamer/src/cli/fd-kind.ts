import { fstatSync } from 'node:fs'
import { UsageError } from './usage-error.js'

export type FdKind = 'pipe' | 'file' | 'socket' | 'other'

export function fdKind(fd: number): FdKind {
  let st
  try { st = fstatSync(fd) } catch { throw new UsageError(`fd ${fd} is not open`) }
  return st.isFIFO() ? 'pipe' : st.isFile() ? 'file' : st.isSocket() ? 'socket' : 'other'
}

/**
 * Shards and external files move by splice(2), which needs a pipe on one side. A regular file is
 * fine too. A socket is refused with the fix: Node/execa child stdio and some launchers hand out
 * socketpairs, and `| cat |` turns one into a pipe.
 */
export function checkDataFd(fd: number, what: string): FdKind {
  const kind = fdKind(fd)
  if (kind === 'socket' || kind === 'other') {
    throw new UsageError(`${what} (fd ${fd}) is a ${kind === 'socket' ? 'socket' : 'terminal or device'}: it must be a pipe or a regular file (put \`| cat |\` in between)`)
  }
  return kind
}
