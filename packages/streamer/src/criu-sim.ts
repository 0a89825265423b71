// A stand-in for CRIU's side of the --stream socket, byte for byte as criu/img-streamer.c speaks
// it, for fast tests and benchmarks of the streaming binaries without a real checkpoint.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { close, connectUnix, makePipe, readFull, sendFd, writeAll } from '@criu-pipes/sys'
import { CAPTURE_SOCKET, SERVE_SOCKET, encodeRequest, readReply } from './protocol.js'

export function waitForSocket(path: string, timeoutMs = 10_000): void {
  const end = Date.now() + timeoutMs
  while (!existsSync(path)) {
    if (Date.now() > end) throw new Error(`no socket at ${path} after ${timeoutMs} ms`)
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
  }
}

/** The dump side: one connection; per file a request, the pipe's read end, then the data. */
export class DumpClient {
  private readonly sock: number
  constructor(imagesDir: string) {
    const path = join(imagesDir, CAPTURE_SOCKET)
    waitForSocket(path)
    this.sock = connectUnix(path)
  }

  /** Opens an image file; returns the write end CRIU would write it through. */
  open(name: string): number {
    writeAll(this.sock, encodeRequest(name))
    const [r, w] = makePipe()
    sendFd(this.sock, r)
    close(r)
    return w
  }

  /** A whole file at once. */
  file(name: string, data: Buffer): void {
    const w = this.open(name)
    writeAll(w, data)
    close(w)
  }

  /** CRIU closes the socket when the dump ends (whether it succeeded or not). */
  finish(): void { close(this.sock) }
}

/** The restore side: requests files by name and reads them back through a pipe of its own. */
export class RestoreClient {
  private readonly sock: number
  constructor(imagesDir: string) {
    const path = join(imagesDir, SERVE_SOCKET)
    waitForSocket(path)
    this.sock = connectUnix(path)
  }

  /** Asks for a file: the read end of its pipe, or null when the image has no such file. */
  open(name: string): number | null {
    writeAll(this.sock, encodeRequest(name))
    if (!readReply(this.sock)) return null
    const [r, w] = makePipe()
    sendFd(this.sock, w)
    close(w)
    return r
  }

  /** Reads `n` bytes (or to EOF when n is omitted) from a file's pipe. */
  static read(fd: number, n?: number): Buffer {
    if (n !== undefined) {
      const b = Buffer.alloc(n)
      return b.subarray(0, readFull(fd, b))
    }
    const parts: Buffer[] = []
    for (;;) {
      const b = Buffer.alloc(1 << 20)
      const got = readFull(fd, b)
      parts.push(b.subarray(0, got))
      if (got < b.length) return Buffer.concat(parts)
    }
  }

  /** The whole file, or null when it does not exist. */
  file(name: string): Buffer | null {
    const fd = this.open(name)
    if (fd === null) return null
    const data = RestoreClient.read(fd)
    close(fd)
    return data
  }

  finish(): void { close(this.sock) }
}
