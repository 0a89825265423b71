import { constants } from 'node:os'
import { c, errno } from './libc.js'

const codeOf = new Map<number, string>(Object.entries(constants.errno).map(([name, num]) => [num, name]))

/** A failed system call: `splice: Broken pipe (EPIPE)`, with the errno kept for callers that branch on it. */
export class SysError extends Error {
  readonly syscall: string
  readonly errno: number
  readonly code: string
  constructor(syscall: string, err: number, detail?: string) {
    const code = codeOf.get(err) ?? `E${err}`
    super(`${syscall}${detail ? ` (${detail})` : ''}: ${String(c.strerror(err))} (${code})`)
    this.name = 'SysError'
    this.syscall = syscall
    this.errno = err
    this.code = code
  }
}

/** Throws a SysError when a libc call returned a negative value; returns the value otherwise. */
export function check<T extends number | bigint>(ret: T, syscall: string, detail?: string): T {
  if (ret < 0) throw new SysError(syscall, errno(), detail)
  return ret
}
