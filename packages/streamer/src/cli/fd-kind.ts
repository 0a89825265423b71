import { fstatSync } from 'node:fs'
import { UsageError } from './usage-error.js'

export type FdKind = 'pipe' | 'file' | 'socket' | 'other'

export function fdKind(fd: number): FdKind {
  let st
  try { st = fstatSync(fd) } catch { throw new UsageError(`fd ${fd} is not open`) }
  return st.isFIFO() ? 'pipe' : st.isFile() ? 'file' : st.isSocket() ? 'socket' : 'other'
}

/**
 * Shards and external files may be any fd that reads or writes a byte stream: pipes move by
 * splice(2) without a copy; files, /dev/null and sockets work too (sshd hands a remote command
 * socketpairs, not pipes), with a copy where splice cannot go. A directory is a mistake.
 */
export function checkDataFd(fd: number, what: string): FdKind {
  let st
  try { st = fstatSync(fd) } catch { throw new UsageError(`${what}: fd ${fd} is not open`) }
  if (st.isDirectory()) throw new UsageError(`${what}: fd ${fd} is a directory`)
  return fdKind(fd)
}
