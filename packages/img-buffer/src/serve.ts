// img-buffer's role: drain the shards, then serve `criu restore --stream`. CRIU reads files in
// an order of its own (inventory.img, written last, is read first), hence the buffering; each file
// is handed over once and its memory freed as it goes.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { POLLIN, POLLOUT, poll, listenUnix, acceptOne, recvFd, closeQuietly } from '@criu-pipes/sys'
import { FramingError } from '@criu-pipes/framing'
import { SERVE_SOCKET, Progress, readRequest, writeReply, checkDataFd, type ExtFile } from '@criu-pipes/streamer'
import { drain } from './drain.js'
import { Transfer } from './transfer.js'
import { applyTcpRemap } from './tcp-remap.js'
import type { StoredFile } from './store.js'

export interface ServeOptions {
  imagesDir: string
  shardFds: number[]
  extFiles: ExtFile[]
  progressFd: number
  tcpListenRemap: Map<number, number>
}

export function serve(opts: ServeOptions): void {
  for (const fd of opts.shardFds) checkDataFd(fd, 'shard')
  for (const e of opts.extFiles) checkDataFd(e.fd, `external file ${e.name}`)
  mkdirSync(opts.imagesDir, { recursive: true })
  const progress = new Progress(opts.progressFd)
  const { files, stats } = drain(opts.shardFds, opts.extFiles)
  progress.stats(stats)
  try {
    if (opts.tcpListenRemap.size) applyTcpRemap(files, opts.tcpListenRemap)
    const listener = listenUnix(join(opts.imagesDir, SERVE_SOCKET))
    progress.line('socket-init')
    const criu = acceptOne(listener)
    closeQuietly(listener)
    serveRequests(criu, files)
  } finally {
    for (const f of files.values()) f.free()
  }
}

function serveRequests(criu: number, files: Map<string, StoredFile>): void {
  const sent = new Set<string>()
  const active: Transfer[] = []
  let open = true
  try {
    while (open || active.length) {
      const fds = [...(open ? [{ fd: criu, events: POLLIN }] : []), ...active.map(t => ({ fd: t.fd, events: POLLOUT }))]
      const revents = poll(fds)
      const base = open ? 1 : 0
      for (let i = active.length - 1; i >= 0; i--) {
        if (revents[base + i] && active[i]!.push()) active.splice(i, 1)
      }
      if (!open || !revents[0]) continue
      const name = readRequest(criu)
      if (name === null) { open = false; continue }
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
      const t = new Transfer(name, fd, file)
      if (!t.push()) active.push(t)
    }
  } finally {
    for (const t of active) t.abort()
    closeQuietly(criu)
  }
}
