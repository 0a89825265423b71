// img-split's role: the socket server for `criu dump --stream`. CRIU connects once, then for each
// image file sends a request and the read end of a pipe; many files are open at once (pagemap and
// pages are written interleaved), so every pipe is multiplexed with poll(2), and each burst of data
// is spliced into the shard with the most room.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import {
  POLLIN, poll, listenUnix, acceptOne, recvFd, closeQuietly, isFifo,
} from '@criu-pipes/sys'
import { ShardWriter, ExtWriter, FramingError, type ExtWriteOptions } from '@criu-pipes/framing'
import { contentWriter } from './content.js'
import { CAPTURE_SOCKET, readRequest, Progress, StatusLine, checkDataFd, type ExtFile } from '@criu-pipes/streamer'
import { Source } from './sources.js'
import { SyncSocket, SYNC_POLL_MS } from './sync-socket.js'

export interface CaptureOptions {
  imagesDir: string
  shardFds: number[]
  extFiles: ExtFile[]
  progressFd: number
  /** Compression, checksums, encryption (the extended stream); null: criu-image-streamer's stream. */
  ext?: ExtWriteOptions | null
  status?: boolean
  /** Incremental checkpoints (content.ts): where this checkpoint's index goes, and the base's index. */
  indexOut?: string | null
  baseIndex?: string | null
}

export interface CaptureResult { sizes: number[]; durationMs: number; files: number }

// cpuinfo.img (only with --cpu-cap=image) is written before the tasks are frozen; any other
// request means the application is frozen: the moment to print checkpoint-start.
const PRE_FREEZE_FILE = 'cpuinfo.img'
// CRIU writes inventory.img last, after every other image. A dump that closes the socket without
// it failed; finishing the stream anyway would hand a broken image downstream as a good one.
const LAST_IMAGE = 'inventory.img'
// How much one input may move before the others (and CRIU's socket) get a look again.
const PUMP_BUDGET = 16 << 20

export function capture(opts: CaptureOptions): CaptureResult {
  for (const fd of opts.shardFds) checkDataFd(fd, 'shard')
  const extKinds = opts.extFiles.map(e => checkDataFd(e.fd, `external file ${e.name}`))
  mkdirSync(opts.imagesDir, { recursive: true })
  const progress = new Progress(opts.progressFd)
  // Shards get their pipe capacity before CRIU's pipes do: the per-user pipe budget is limited.
  const shardWriter = new ShardWriter(opts.shardFds)
  const ext = opts.ext ? new ExtWriter(shardWriter, opts.ext) : null
  const content = contentWriter(ext ?? shardWriter, opts)
  const writer = content ?? ext ?? shardWriter
  const status = new StatusLine('img-split', opts.status ?? false)
  const onShards = (): number => writer.sizes().reduce((a, b) => a + b, 0)
  const listener = listenUnix(join(opts.imagesDir, CAPTURE_SOCKET))
  const sync = new SyncSocket(opts.imagesDir)
  progress.line('socket-init')

  const sources: Source[] = []
  const seen = new Set<string>()
  let criu = -1
  let criuDone = false
  let started: number | null = null
  let connectedAt = 0

  try {
    while (!criuDone || sources.length > 0) {
      sync.answerIfDrained(sources.length, opts.shardFds)
      const polled = criu < 0 && !criuDone ? [listener] : criuDone ? [] : [criu]
      // With the extensions, the pool's notify fd too: finished chunks go out while inputs are idle.
      const fds = [...polled, ...sources.map(s => s.fd), ...(ext ? [ext.pollFd] : []), sync.fd]
      // A source CRIU sends below is appended after the polled ones and has no revents yet.
      const polledSources = sources.length
      const revents = poll(fds.map(fd => ({ fd, events: POLLIN })), sync.waiting ? SYNC_POLL_MS : -1)
      if (revents[fds.length - 1]) sync.accept()
      if (revents[0] && criu < 0 && !criuDone) {
        criu = acceptOne(listener)
        closeQuietly(listener)
        connectedAt = performance.now()
        opts.extFiles.forEach((e, i) => sources.push(new Source(e.name, e.fd, extKinds[i] === 'pipe')))
        opts.extFiles.forEach(e => seen.add(e.name))
        continue
      }
      if (revents[0] && criu >= 0) {
        const name = readRequest(criu)
        if (name === null) {
          closeQuietly(criu)
          criu = -1
          criuDone = true
        } else {
          if (seen.has(name)) throw new FramingError(`CRIU sent ${name} twice`)
          seen.add(name)
          if (started === null && name !== PRE_FREEZE_FILE) {
            started = performance.now()
            progress.line('checkpoint-start')
          }
          const { fd } = recvFd(criu)
          if (fd === null) throw new FramingError(`CRIU sent no pipe for ${name}`)
          if (!isFifo(fd)) { closeQuietly(fd); throw new FramingError(`CRIU sent ${name} on an fd that is not a pipe`) }
          sources.push(new Source(name, fd, true))
        }
      }
      const base = polled.length
      status.update(() => (ext ? [ext.stats().raw, onShards()] : [onShards(), null]))
      if (ext && revents[base + polledSources]) ext.service()
      for (let i = polledSources - 1; i >= 0; i--) {
        if (!revents[base + i]) continue
        const src = sources[i]!
        let n = src.ready()
        if (n > 0) {
          // Keep pumping while data keeps coming: a poll(2) per burst costs as much as the burst.
          let budget = PUMP_BUDGET
          do {
            writer.spliceFrom(src.name, src.fd, n)
            budget -= n
          } while (budget > 0 && (n = src.ready()) > 0)
        } else {
          writer.endFile(src.name)
          src.close()
          sources.splice(i, 1)
        }
      }
    }
    if (!seen.has(LAST_IMAGE) && [...seen].some(n => n !== PRE_FREEZE_FILE && !opts.extFiles.some(e => e.name === n))) {
      throw new FramingError(`CRIU closed the connection without sending ${LAST_IMAGE}: the dump failed, the stream is left unfinished`)
    }
    writer.endImage()
  } finally {
    content?.close()
    for (const s of sources) s.close()
    closeQuietly(criu)
    sync.close()
    ext?.close()
    status.clear()
  }
  const durationMs = Math.round(performance.now() - (started ?? connectedAt))
  const sizes = writer.sizes()
  progress.stats(sizes.map(size => ({ size, transfer_duration_millis: durationMs })), ext || content ? { ...ext?.stats(), ...(content ? { content: content.stats() } : {}) } : null)
  return { sizes, durationMs, files: seen.size }
}
