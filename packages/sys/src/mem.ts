import { c, errno, view } from './libc.js'
import { EAGAIN, EINTR, PAGE_SIZE } from './constants.js'
import { SysError, check } from './errors.js'
import { checkSpan } from './bounds.js'
import { waitReadable } from './poll.js'

const PROT_READ = 1
const PROT_WRITE = 2
const MAP_PRIVATE = 0x02
const MAP_ANONYMOUS = 0x20
const MADV_POPULATE_WRITE = 23
const MAP_FAILED = (1n << 64n) - 1n

/**
 * Private anonymous memory outside the JS heap. Unlike a Buffer it is returned to the kernel at
 * munmap(2), when we say, not when the GC runs: what img-buffer needs to free an image as it goes.
 */
export class Region {
  readonly ptr: bigint
  readonly length: number
  private isMapped = true
  constructor(length: number) {
    const p = BigInt(c.mmap(null, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) as bigint)
    if (p === MAP_FAILED || p === -1n) throw new SysError('mmap', errno(), `${length} bytes`)
    this.ptr = p
    this.length = length
  }

  /** A Buffer over [offset, offset+len) of the region; valid only until unmap(). */
  buffer(offset = 0, len = this.length - offset): Buffer {
    if (!this.isMapped) throw new Error('Region: buffer() of an unmapped region')
    checkSpan('Region.buffer', this.length, offset, len)
    return view(this.ptr + BigInt(offset), len)
  }

  /**
   * Allocates the pages under [offset, offset+len) now, in one pass in the kernel
   * (MADV_POPULATE_WRITE), instead of one page fault per 4 KiB when a read(2) first writes them:
   * several times faster for memory about to be filled. Unlike MAP_POPULATE it takes only the
   * pages asked for, not the whole region. A hint: false where the kernel lacks it (before 5.14)
   * or cannot do it now; the pages then come by page faults, as usual.
   */
  populate(offset: number, len: number): boolean {
    return populateRange(this.ptr + BigInt(offset), len)
  }

  /** False once unmap() has returned the memory: no view of it may be taken after that. */
  get mapped(): boolean { return this.isMapped }

  unmap(): void {
    if (!this.isMapped) return
    this.isMapped = false
    check(c.munmap(this.ptr, this.length) as number, 'munmap')
  }
}

/** Region.populate for any address range (a worker thread filling part of a region). */
export function populateRange(ptr: bigint, len: number): boolean {
  const start = ptr & ~BigInt(PAGE_SIZE - 1)
  const end = (ptr + BigInt(len) + BigInt(PAGE_SIZE - 1)) & ~BigInt(PAGE_SIZE - 1)
  return (c.madvise(start, Number(end - start), MADV_POPULATE_WRITE) as number) === 0
}

/** read(2) into raw memory; returns bytes (0 = EOF), waiting on EAGAIN. */
export function readToPtr(fd: number, ptr: bigint, length: number): number {
  for (;;) {
    const n = Number(c.read(fd, ptr, length))
    if (n >= 0) return n
    const err = errno()
    if (err === EAGAIN) { waitReadable(fd); continue }
    if (err !== EINTR) throw new SysError('read', err, `fd ${fd}`)
  }
}
