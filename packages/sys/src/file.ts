// Regular files read by position, without going through (or moving) the fd's file offset: a
// shard stream stored in a file can then be served straight from the page cache, page by page,
// long after its markers were read.
import { S_IFREG, statFd } from './at.js'
import { c, errno } from './libc.js'
import { EAGAIN, EINTR } from './constants.js'
import { SysError, check } from './errors.js'
import { checkSpan } from './bounds.js'

// An fd's type is asked of the kernel through statx (at.ts), never through node:fs: Node's realpath
// cache, which import and require use to follow pnpm's links, goes wrong after an fs fstat whose
// result was a FIFO or a socket (nodejs/node#51142): every module loaded after it was not found.

export function isRegularFile(fd: number): boolean {
  try {
    return statFd(fd).type === S_IFREG
  } catch {
    return false
  }
}

/** The file's size now (a file still being written grows). */
export function fileSize(fd: number): number {
  return statFd(fd).size
}

/** fsync(2): the file's data and metadata (a directory's entries) are on stable storage when it returns. */
export function fsync(fd: number, detail = `fd ${fd}`): void {
  for (;;) {
    if ((c.fsync(fd) as number) === 0) return
    const err = errno()
    if (err !== EINTR) throw new SysError('fsync', err, detail)
  }
}

/**
 * sync_file_range(2) over [offset, offset+length): with SYNC_FILE_RANGE_WRITE starts writeback of
 * the dirty pages there, with SYNC_FILE_RANGE_WAIT_BEFORE first waits for the writeback already
 * under way. A hint to the page cache, never a durability point: metadata and the disk's cache are
 * not flushed (that is fsync's job).
 */
export function syncFileRange(fd: number, offset: number, length: number, flags: number): void {
  for (;;) {
    if ((c.sync_file_range(fd, offset, length, flags) as number) === 0) return
    const err = errno()
    if (err !== EINTR) throw new SysError('sync_file_range', err, `fd ${fd}`)
  }
}

/** lseek(2); returns the new offset. Seeking past the end of a regular file is allowed (and reads EOF there). */
export function lseek(fd: number, offset: number, whence: number): number {
  return Number(check(BigInt(c.lseek(fd, offset, whence)), 'lseek', `fd ${fd}`))
}

/**
 * posix_fadvise(2): a hint about how [offset, offset+length) will be read (length 0 = to the end).
 * It returns the error number instead of setting errno.
 */
export function fadvise(fd: number, offset: number, length: number, advice: number): void {
  const err = c.posix_fadvise(fd, offset, length, advice) as number
  if (err !== 0) throw new SysError('posix_fadvise', err, `fd ${fd}`)
}

/** pread(2) until `length` bytes are in or the file ends; returns how many arrived. */
export function preadFull(fd: number, buf: Buffer, position: number, offset = 0, length = buf.length - offset): number {
  checkSpan('pread', buf.length, offset, length)
  let done = 0
  while (done < length) {
    const n = Number(c.pread(fd, buf.subarray(offset + done), length - done, position + done))
    if (n === 0) break
    if (n < 0) {
      const err = errno()
      if (err === EINTR) continue
      throw new SysError('pread', err, `fd ${fd}`)
    }
    done += n
  }
  return done
}

// splice(2) takes the input offset as a loff_t* that it advances; the caller tracks its own.
const offIn = new BigInt64Array(1)
/**
 * One splice(2) from a file at `position` (its fd offset untouched) into a pipe. Returns the bytes
 * moved, 0 at the end of the file, or -1 when the pipe is full (with SPLICE_F_NONBLOCK in `flags`).
 * From a file the pipe gets references to page-cache pages: no copy.
 */
export function spliceFromFile(fileFd: number, position: number, pipeFd: number, length: number, flags = 0): number {
  for (;;) {
    offIn[0] = BigInt(position)
    const n = Number(c.splice(fileFd, offIn, pipeFd, null, length, flags))
    if (n >= 0) return n
    const err = errno()
    if (err === EAGAIN) return -1
    if (err !== EINTR) throw new SysError('splice', err, `fd ${fileFd} at ${position} -> fd ${pipeFd}`)
  }
}
