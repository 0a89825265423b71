// img-split's role: the socket server for `criu dump --stream`. CRIU connects once, then for each
// image file sends a request and the read end of a pipe; many files are open at once (pagemap and
// pages are written interleaved), so every pipe is multiplexed with poll(2), and each burst of data
// is spliced into the shard with the most room.
import {
  POLLIN, poll, recvFd, closeQuietly, isFifo, openPrivateDir, ServerSocket,
} from '@criu-pipes/sys'
import { ShardWriter, ExtWriter, FramingError, type ContentWriter, type ExtWriteOptions } from '@criu-pipes/framing'
import { CAPTURE_SOCKET, readRequest, Progress, StatusLine, checkDataFd, type ExtFile, type FdKind } from '@criu-pipes/streamer'
import { Source } from './sources.js'
import { SyncSocket, SYNC_POLL_MS } from './sync-socket.js'
import { shardSink, type ShardSink } from './shard-sink.js'
import { contentWriter } from './content.js'
import { LAST_IMAGE, PRE_FREEZE_FILE, checkDumpSent, checkShards, shardsDone } from './completion.js'

export interface CaptureOptions {
  imagesDir: string
  shardFds: number[]
  extFiles: ExtFile[]
  progressFd: number
  /** One sink per shard instead of the fd's own kind: with --filter, each knows when its filter is done. */
  shardSinks?: readonly ShardSink[] | undefined
  /** Compression, checksums, encryption (the extended stream); null: criu-image-streamer's stream. */
  ext?: ExtWriteOptions | null
  /** Show the live status line. */
  status?: boolean
  /** Incremental checkpoints (content.ts): where this checkpoint's index goes, and the base's index. */
  indexOut?: string | null
  baseIndex?: string | null
  /** Called once the socket listens (after socket-init): -d's readiness. */
  onListening?: (() => void) | undefined
  /** How long to wait for CRIU to connect (ms; NO_TIMEOUT: forever, criu-image-streamer's way). */
  connectTimeoutMs?: number | undefined
}

export interface CaptureResult { sizes: number[]; durationMs: number; files: number }

export async function capture(opts: CaptureOptions): Promise<CaptureResult> {
  const shardKinds = opts.shardFds.map(fd => checkDataFd(fd, 'shard'))
  const extKinds = opts.extFiles.map(e => checkDataFd(e.fd, `external file ${e.name}`))
  const extNames = new Set(opts.extFiles.map(e => e.name))
  // The sockets go in a directory nobody else controls (see openPrivateDir), held by fd.
  const dir = openPrivateDir(opts.imagesDir, { create: true })
  let listener: ServerSocket | undefined
  let sync: SyncSocket | undefined
  let ext: ExtWriter | null = null
  let content: ContentWriter | null = null
  try {
    const progress = new Progress(opts.progressFd)
    // Shards get their pipe capacity before CRIU's pipes do: the per-user pipe budget is limited.
    const shardWriter = new ShardWriter(opts.shardFds)
    ext = opts.ext ? new ExtWriter(shardWriter, opts.ext) : null
    content = contentWriter(ext ?? shardWriter, opts)
    const sinks = opts.shardSinks ?? opts.shardFds.map((fd, i) => shardSink(fd, shardKinds[i]!, i))
    // The threads start and load their codecs and hashes before CRIU can connect: not while it is frozen.
    ext?.waitReady()
    content?.waitReady()
    // The hook's socket first: whoever sees the capture socket may go on to the hook at once.
    sync = new SyncSocket(dir, opts.imagesDir)
    listener = ServerSocket.listen(dir, CAPTURE_SOCKET, opts.imagesDir)
    const connected = listener.acceptAsync(opts.connectTimeoutMs) // signal handlers in place before anyone is told
    progress.line('socket-init')
    opts.onListening?.()
    const criu = await connected
    // CRIU connects once: the socket file is of no use from now on.
    listener.close()
    return captureFrom(criu, sync, ext, content, content ?? ext ?? shardWriter, sinks, progress, opts, extKinds, extNames)
  } finally {
    content?.close()
    listener?.close()
    sync?.close()
    ext?.close()
    closeQuietly(dir)
  }
}

/** The capture once CRIU is connected on `criuFd`: requests, pipes, the hook, until CRIU is done. */
function captureFrom(
  criuFd: number, sync: SyncSocket, ext: ExtWriter | null, content: ContentWriter | null, writer: ShardWriter | ExtWriter | ContentWriter,
  sinks: readonly ShardSink[], progress: Progress,
  opts: CaptureOptions, extKinds: readonly FdKind[], extNames: ReadonlySet<string>,
): CaptureResult {
  const status = new StatusLine('img-split', opts.status ?? false)
  const onShards = (): number => writer.sizes().reduce((a, b) => a + b, 0)
  const sources: Source[] = []
  const seen = new Set<string>()
  let criu = criuFd
  let criuDone = false
  let imageEnded = false
  let started: number | null = null
  const connectedAt = performance.now()
  opts.extFiles.forEach((e, i) => sources.push(new Source(e.name, e.fd, extKinds[i]!)))
  opts.extFiles.forEach(e => seen.add(e.name))
  const endImage = (): void => {
    checkDumpSent(seen, extNames)
    writer.endImage()
    imageEnded = true
    for (const s of sinks) s.finish()
  }

  try {
    while (!criuDone || sources.length > 0) {
      const polled = criuDone ? [] : [criu]
      // With the extensions or the content index, the pools' notify fds too: finished chunks and
      // hashed pages go out while inputs are idle.
      const fds = [...polled, ...sources.map(s => s.fd), ...(ext ? [ext.pollFd] : []), ...(content ? [content.pollFd] : []), sync.fd]
      const revents = poll(fds.map(fd => ({ fd, events: POLLIN })), sync.waiting ? SYNC_POLL_MS : -1)
      // By fd, never by position: a pipe received in this round was not polled, and must not be
      // read from another fd's slot (it would be taken for a finished, empty file and closed).
      const ready = new Map(fds.map((fd, i) => [fd, revents[i] ?? 0]))
      if (ready.get(sync.fd)) sync.accept()
      if (criu >= 0 && ready.get(criu)) {
        const name = readRequest(criu)
        if (name === null) {
          closeQuietly(criu)
          criu = -1
          criuDone = true
        } else {
          if (imageEnded) throw new FramingError(`CRIU sent ${name} after its post-dump hook, when the image was already complete`)
          if (seen.has(name)) throw new FramingError(`CRIU sent ${name} twice`)
          seen.add(name)
          if (started === null && name !== PRE_FREEZE_FILE) {
            started = performance.now()
            progress.line('checkpoint-start')
          }
          const { fd } = recvFd(criu)
          if (fd === null) throw new FramingError(`CRIU sent no pipe for ${name}`)
          if (!isFifo(fd)) { closeQuietly(fd); throw new FramingError(`CRIU sent ${name} on an fd that is not a pipe`) }
          sources.push(new Source(name, fd, 'pipe'))
        }
      }
      status.update(() => (ext ? [ext.stats().raw, onShards()] : [onShards(), null]))
      if (content && ready.get(content.pollFd)) content.service()
      if (ext && ready.get(ext.pollFd)) ext.service()
      for (let i = sources.length - 1; i >= 0; i--) {
        const src = sources[i]!
        if (!ready.get(src.fd) || src.pump(writer)) continue
        writer.endFile(src.name)
        src.close()
        sources.splice(i, 1)
      }
      const written = writer.sizes()
      sinks.forEach((s, i) => s.wrote?.(written[i]!))
      // The post-dump hook runs once CRIU has written inventory.img and closed every pipe, and
      // nothing comes after it (completion.ts): end the image now, and answer once every
      // consumer holds it all. Until then the dumped process stays frozen.
      if (sync.waiting && criu >= 0 && sources.length === 0 && seen.has(LAST_IMAGE) && quiet(criu)) {
        if (!imageEnded) endImage()
        // The index too, before `criu dump` returns: the next round's img-split may start at once.
        if (shardsDone(sinks)) { content?.commitIndex(); sync.answerOk() }
      }
    }
    // CRIU waits for its post-dump script before it closes the socket: a hook still waiting now
    // died (or was never CRIU's), and CRIU has taken the dump for failed.
    if (sync.waiting) throw new FramingError('CRIU ended the dump while its post-dump hook was still waiting: the dump failed')
    if (!imageEnded) endImage()
    checkShards(sinks)
    content?.commitIndex()
  } finally {
    for (const s of sources) s.close()
    closeQuietly(criu)
    status.clear()
  }
  const durationMs = Math.round(performance.now() - (started ?? connectedAt))
  const sizes = writer.sizes()
  progress.stats(sizes.map(size => ({ size, transfer_duration_millis: durationMs })), ext || content ? { ...ext?.stats(), ...(content ? { content: content.stats() } : {}) } : null)
  return { sizes, durationMs, files: seen.size }
}

/** Nothing more from CRIU is waiting to be read on its socket. */
const quiet = (fd: number): boolean => poll([{ fd, events: POLLIN }], 0)[0] === 0
