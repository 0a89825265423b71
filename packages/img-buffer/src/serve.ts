// img-buffer's role: drain the shards, then serve `criu restore --stream`. CRIU reads files in
// an order of its own (inventory.img, written last, is read first), hence the buffering; each file
// is handed over once and its memory freed as it goes.
import { EPOLLIN, epollAdd, epollCreate, epollDel, epollWait, recvFd, closeQuietly, openPrivateDir, ServerSocket, claimSocketName } from '@criu-pipes/sys'
import { FramingError, type DecodeWindow, type ExtReadOptions } from '@criu-pipes/framing'
import {
  SERVE_SOCKET, Progress, StatusLine, readRequest, writeReply, checkDataFd, type ExtFile,
} from '@criu-pipes/streamer'
import { drain } from './drain.js'
import { Transfer } from './transfer.js'
import { applyTcpRemap } from './tcp-remap.js'
import { refuseUnstreamable } from './stream-limits.js'
import type { StoredFile } from './store.js'

export interface ServeOptions {
  imagesDir: string
  shardFds: number[]
  extFiles: ExtFile[]
  progressFd: number
  tcpListenRemap: Map<number, number>
  /** How to read an extended stream (key, threads); a plain stream ignores it. */
  ext?: ExtReadOptions
  status?: boolean
  /** Called once every shard is drained, before the socket exists: throws to refuse the image (a shard filter failed). */
  confirmShards?: (() => void) | undefined
  /** Called once the socket listens (after socket-init): -d's readiness. */
  onListening?: (() => void) | undefined
  /** How long to wait for CRIU to connect (ms; NO_TIMEOUT: forever, criu-image-streamer's way). */
  connectTimeoutMs?: number | undefined
  /** Called once the image passed every check (its pages files decoded and verified once, see DecodeWindow.verify), right before the socket is bound (img-migrate's receipt: the source may let go). */
  accepted?: (() => void) | undefined
}

export async function serve(opts: ServeOptions): Promise<void> {
  for (const fd of opts.shardFds) checkDataFd(fd, 'shard')
  for (const e of opts.extFiles) checkDataFd(e.fd, `external file ${e.name}`)
  // The socket goes in a directory nobody else controls (see openPrivateDir), held by fd.
  const dir = openPrivateDir(opts.imagesDir, { create: true })
  let listener: ServerSocket | undefined
  try {
    // Before the drain, which may take long: a live server there is refused now, and a stale
    // socket left by a dead one is removed, so that nobody takes it for ours being ready.
    claimSocketName(dir, SERVE_SOCKET, opts.imagesDir)
    const progress = new Progress(opts.progressFd)
    const { files, stats, extStats, window } = drain(opts.shardFds, opts.extFiles, opts.ext, new StatusLine('img-buffer', opts.status ?? false))
    try {
      opts.confirmShards?.()
      progress.stats(stats, extStats)
      if (opts.tcpListenRemap.size) applyTcpRemap(files, opts.tcpListenRemap)
      refuseUnstreamable(files)
      if (opts.accepted) {
        // The receipt says every check passed; pages files are otherwise verified only while
        // CRIU reads them, after it: decode them once here, keeping nothing.
        if (window) for (const f of files.values()) window.verify(f.storedChunks())
        opts.accepted()
      }
      listener = ServerSocket.listen(dir, SERVE_SOCKET, opts.imagesDir)
      const connected = listener.acceptAsync(opts.connectTimeoutMs) // signal handlers in place before anyone is told
      progress.line('socket-init')
      opts.onListening?.()
      const criu = await connected
      // CRIU connects once: the socket file is of no use from now on.
      listener.close()
      serveRequests(criu, files, window)
    } finally {
      // Workers first: a job may still be reading a stash region.
      window?.close()
      for (const f of files.values()) f.free()
    }
  } finally {
    listener?.close()
    closeQuietly(dir)
  }
}

// One epoll for CRIU's socket (level-triggered: a request waits until read), for each
// transfer waiting for room in its pipe (edge-triggered, see transfer.ts), and for the decode
// window's workers (level-triggered: a chunk decoded for a starved transfer).
function serveRequests(criu: number, files: Map<string, StoredFile>, window: DecodeWindow | null): void {
  const sent = new Set<string>()
  const active = new Map<number, Transfer>()
  const ep = epollCreate()
  let open = true
  try {
    epollAdd(ep, criu, EPOLLIN)
    if (window) epollAdd(ep, window.notifyFd, EPOLLIN)
    while (open || active.size) {
      for (const ev of epollWait(ep)) {
        if (ev.fd === window?.notifyFd) {
          window.pool.drainNotify()
          for (const [fd, t] of active) if (t.starved && t.push()) active.delete(fd)
          continue
        }
        if (ev.fd !== criu) {
          const t = active.get(ev.fd)
          if (t?.push()) active.delete(ev.fd)
          continue
        }
        if (!open) continue
        const name = readRequest(criu)
        if (name === null) { open = false; epollDel(ep, criu); continue }
        const file = files.get(name)
        if (!file) {
          if (sent.has(name)) {
            throw new FramingError(`CRIU requested ${name} a second time: each file is served once, and its memory freed`)
          }
          writeReply(criu, false)
          continue
        }
        files.delete(name)
        sent.add(name)
        writeReply(criu, true)
        const { fd } = recvFd(criu)
        if (fd === null) throw new FramingError(`CRIU sent no pipe for ${name}`)
        const t = new Transfer(name, fd, file, ep, window)
        if (!t.push()) active.set(fd, t)
      }
    }
  } finally {
    for (const t of active.values()) t.abort()
    if (window) epollDel(ep, window.notifyFd)
    closeQuietly(ep)
    closeQuietly(criu)
  }
}
