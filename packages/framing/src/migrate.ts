// img-migrate's control messages. The migration channel (one bidirectional byte stream: ssh, or
// anything that carries bytes) holds shard-format frames only, `[u32 LE length][marker]`: these
// control markers, each holding exactly one MIGRATE_* field of extensions.ts (message-valued,
// wire type 2), and between them whole images as one shard each (seq 0 up to image_eof, read with
// ExtReadOptions.continues). Like the page stream's, a control marker carries no seq.
//
//   source -> destination
//     MIGRATE_HELLO  {1 version, 2 mode, 3 nonce, 4 keyed}   first message
//     MIGRATE_ROUND  {1 round, 2 final, 3 lazy, 4 stream id}   then one whole image (keyed: the
//                                                        stream id its header must carry); a lazy
//                                                        final round's image holds no lazy memory,
//                                                        and the page stream (page-stream.ts)
//                                                        follows it until PAGES_DONE both ways
//     MIGRATE_RELEASED {1 round}                         after the final receipt: the process is
//                                                        gone here, its pids free: restore it
//   destination -> source
//     MIGRATE_HELLO  {1 version, 2 mode, 3 nonce, 4 keyed}   ready: its work dir exists
//     MIGRATE_RESULT {1 round, 2 status, 3 bytes, 4 pid, 5 error (string)}
//   every message, keyed (--encrypt/--decrypt), from the destination's hello on:
//     sub-field 15   its tag (ext/seal.ts controlTag): the session's subkey comes from both hello
//                    nonces, the nonce of a tag from its direction and number
//
// A reader refuses an unknown field or sub-field, a marker longer than MAX_MIGRATE_MARKER_LEN,
// and a version other than its own; MigrateChannel refuses, once keyed, any message without its
// tag, so that an image is applied, a process killed or a restore started only on the word of
// the other end of this very session (a stream id in ROUND binds each image to it too).
import { randomBytes } from 'node:crypto'
import { readFull, writeAll } from '@criu-pipes/sys'
import { FramingError } from './errors.js'
import { controlAuthentic, controlSubkey, controlTag } from './ext/seal.js'
import { STREAM_ID_BYTES, TAG_BYTES } from './ext/limits.js'
import { Field } from './extensions.js'
import { LEN_PREFIX, controlFrame, decodeControl, type KnownFields } from './control-frame.js'

/** 2: hello nonces, stream ids and tags (version 1 had none). */
export const MIGRATE_VERSION = 2
/** Each side's random share of the session (hello sub-field 3). */
export const SESSION_NONCE_BYTES = 16
const TAG = 15
/** The longest message is a result with its error line (cut to MAX_ERROR_BYTES); more is damage. */
export const MAX_MIGRATE_MARKER_LEN = 1024
const MAX_ERROR_BYTES = 900

/** What a MIGRATE_RESULT says about its round. */
export const RoundStatus = {
  /** a pre-copy round: extracted and fsynced, now the destination's base */
  KEPT: 1,
  /** the final round: the whole image arrived and passed every check; the restore starts */
  RECEIVED: 2,
  /** the final round: restored, the process runs at the destination (pid) */
  RESTORED: 3,
  /** the round failed at the destination (error) */
  FAILED: 4,
} as const
export type RoundStatusCode = (typeof RoundStatus)[keyof typeof RoundStatus]

export type MigrateMessage =
  | { kind: 'hello'; version: number; mode: number; nonce?: Buffer; keyed?: boolean }
  | { kind: 'round'; round: number; final: boolean; lazy: boolean; streamId?: Buffer }
  | { kind: 'released'; round: number }
  | { kind: 'result'; round: number; status: RoundStatusCode; bytes: number; pid: number; error: string }

const none = Buffer.alloc(0)

/** The message with its length prefix, ready to write to the channel; `tag`: its sub-field 15. */
export function encodeMigrate(m: MigrateMessage, tag: Buffer = none): Buffer {
  switch (m.kind) {
    case 'hello': return controlFrame(Field.MIGRATE_HELLO, [[1, m.version], [2, m.mode], [3, m.nonce ?? none], [4, m.keyed ? 1 : 0], [TAG, tag]])
    case 'round': return controlFrame(Field.MIGRATE_ROUND, [[1, m.round], [2, m.final ? 1 : 0], [3, m.lazy ? 1 : 0], [4, m.streamId ?? none], [TAG, tag]])
    case 'released': return controlFrame(Field.MIGRATE_RELEASED, [[1, m.round], [TAG, tag]])
    case 'result': {
      // Cut on a character boundary: the reader decodes it as UTF-8.
      let error = Buffer.from(m.error)
      if (error.length > MAX_ERROR_BYTES) error = Buffer.from(error.subarray(0, MAX_ERROR_BYTES).toString().replace(/\uFFFD$/, ''))
      return controlFrame(Field.MIGRATE_RESULT, [[1, m.round], [2, m.status], [3, m.bytes], [4, m.pid], [5, error], [TAG, tag]])
    }
  }
}

const KNOWN: KnownFields = {
  [Field.MIGRATE_HELLO]: { varints: [1, 2, 4], bytes: [3, TAG] },
  [Field.MIGRATE_ROUND]: { varints: [1, 2, 3], bytes: [4, TAG] },
  [Field.MIGRATE_RESULT]: { varints: [1, 2, 3, 4], bytes: [5, TAG] },
  [Field.MIGRATE_RELEASED]: { varints: [1], bytes: [TAG] },
}

/** A control marker without its length prefix; its tag, if it has one, beside it. */
export function decodeTagged(buf: Buffer): { m: MigrateMessage; tag: Buffer | null } {
  const { field, v: g, bytes } = decodeControl(buf, KNOWN, 'migration channel')
  const tag = bytes.get(TAG) ?? null
  if (tag !== null && tag.length !== TAG_BYTES) throw new FramingError(`migration channel: a tag of ${tag.length} bytes, not ${TAG_BYTES}`)
  return { m: decodeFields(field, g, bytes), tag }
}

/** A control marker without its length prefix (its tag, if any, not checked: MigrateChannel does). */
export function decodeMigrate(buf: Buffer): MigrateMessage {
  return decodeTagged(buf).m
}

function sized(b: Buffer | undefined, n: number, what: string): Buffer | undefined {
  if (b !== undefined && b.length !== n) throw new FramingError(`migration channel: a ${what} of ${b.length} bytes, not ${n}`)
  return b && Buffer.from(b)
}

function decodeFields(field: number, g: (f: number) => number, bytes: Map<number, Buffer>): MigrateMessage {
  const error = bytes.get(5)?.toString('utf8') ?? ''
  switch (field) {
    case Field.MIGRATE_HELLO: {
      if (g(1) !== MIGRATE_VERSION) throw new FramingError(`migration channel version ${g(1)}, this build speaks ${MIGRATE_VERSION}`)
      const nonce = sized(bytes.get(3), SESSION_NONCE_BYTES, 'hello nonce')
      if (nonce === undefined) throw new FramingError('migration channel: a hello without its nonce')
      return { kind: 'hello', version: g(1), mode: g(2), nonce, keyed: g(4) === 1 }
    }
    case Field.MIGRATE_ROUND: {
      if (g(1) < 1 || g(2) > 1 || g(3) > g(2)) throw new FramingError(`migration channel: bad round ${g(1)} (final ${g(2)}, lazy ${g(3)})`)
      const streamId = sized(bytes.get(4), STREAM_ID_BYTES, 'stream id')
      return { kind: 'round', round: g(1), final: g(2) === 1, lazy: g(3) === 1, ...(streamId ? { streamId } : {}) }
    }
    case Field.MIGRATE_RELEASED:
      return { kind: 'released', round: g(1) }
    default: {
      const status = g(2)
      if (status < RoundStatus.KEPT || status > RoundStatus.FAILED) throw new FramingError(`migration channel: unknown round status ${status}`)
      return { kind: 'result', round: g(1), status: status as RoundStatusCode, bytes: g(3), pid: g(4), error }
    }
  }
}

/** Writes one control message (blocking), with its tag in a keyed session (MigrateChannel). */
export function writeMigrate(fd: number, m: MigrateMessage, tag: Buffer = none): void {
  writeAll(fd, encodeMigrate(m, tag))
}

/** Reads one control message (blocking); null on EOF between messages. */
export function readMigrate(fd: number): MigrateMessage | null {
  const body = readControlMarker(fd)
  return body === null ? null : decodeMigrate(body)
}

/** One control marker, without its length prefix (blocking); null on EOF between markers. */
function readControlMarker(fd: number): Buffer | null {
  const head = Buffer.alloc(LEN_PREFIX)
  const got = readFull(fd, head, 0, LEN_PREFIX)
  if (got === 0) return null
  if (got < LEN_PREFIX) throw new FramingError('migration channel: truncated (the channel ends inside a marker)')
  const len = head.readUInt32LE(0)
  if (len === 0 || len > MAX_MIGRATE_MARKER_LEN) throw new FramingError(`migration channel: control marker of ${len} bytes (1 to ${MAX_MIGRATE_MARKER_LEN}): not img-migrate at the other end, or damaged`)
  const body = Buffer.alloc(len)
  if (readFull(fd, body) < len) throw new FramingError('migration channel: truncated (the channel ends inside a marker)')
  return body
}

/** Source to destination, and back: a tag's direction (its nonce's first byte). */
const FROM_SOURCE = 1
const FROM_DESTINATION = 2

/**
 * One side of a migration session: the hello exchange, then every message numbered and, keyed,
 * tagged and checked. The fds stay the caller's (it closes them, or sets writeFd to -1).
 */
export class MigrateChannel {
  private subkey: Buffer | null = null
  private nonce = Buffer.alloc(0)
  private mode = 0
  private sent = 0
  private received = 0

  private constructor(public readFd: number, public writeFd: number, private readonly key: Buffer | null,
    private readonly out: number, private readonly in_: number) {}

  /** The source's side: says hello (its mode, nonce, whether keyed); then answered() reads the answer. */
  static source(readFd: number, writeFd: number, key: Buffer | null, mode: number): MigrateChannel {
    const c = new MigrateChannel(readFd, writeFd, key, FROM_SOURCE, FROM_DESTINATION)
    c.nonce = randomBytes(SESSION_NONCE_BYTES)
    c.mode = mode
    writeMigrate(writeFd, { kind: 'hello', version: MIGRATE_VERSION, mode, nonce: c.nonce, keyed: key !== null })
    return c
  }

  /**
   * The source's side, once the destination is up: its hello must have the same version, mode
   * and keying and, keyed, its tag (the destination holds the key, and answered this very hello).
   */
  answered(): void {
    const body = readControlMarker(this.readFd)
    if (body === null) throw new FramingError('the destination closed the channel before its hello (see its error above)')
    const { m, tag } = decodeTagged(body)
    // A refusal (keys that disagree, say) comes before any session exists: its word, and the end.
    if (m.kind === 'result' && m.status === RoundStatus.FAILED) throw new FramingError(m.error)
    if (m.kind !== 'hello') throw new FramingError(`the destination answered with a ${m.kind} message, not its hello`)
    if (m.keyed !== this.keyed) {
      throw new FramingError(this.keyed ? 'the destination has no key: run it with --decrypt KEYFILE' : 'the destination wants a keyed migration: run the source with --encrypt KEYFILE')
    }
    if (m.mode !== this.mode) throw new FramingError(`the destination answered for mode ${m.mode}, not ${this.mode}: the hello was altered`)
    if (this.key !== null) this.subkey = controlSubkey(this.key, this.nonce, m.nonce!)
    this.check(m, tag)
  }

  /** The destination's side: reads the source's hello and answers it; the source's mode. */
  static destination(readFd: number, writeFd: number, key: Buffer | null): { channel: MigrateChannel; mode: number } {
    const c = new MigrateChannel(readFd, writeFd, key, FROM_DESTINATION, FROM_SOURCE)
    const body = readControlMarker(readFd)
    if (body === null) throw new FramingError('the source closed the channel at once')
    const { m } = decodeTagged(body)
    if (m.kind !== 'hello') throw new FramingError(`the source began with a ${m.kind} message`)
    if (m.keyed !== (key !== null)) {
      throw new FramingError(key !== null ? 'the source sends without a key: run it with --encrypt KEYFILE (this side has --decrypt)' : 'the source sends keyed: run this side with --decrypt KEYFILE')
    }
    const nonce = randomBytes(SESSION_NONCE_BYTES)
    if (key !== null) c.subkey = controlSubkey(key, m.nonce!, nonce)
    c.write({ kind: 'hello', version: MIGRATE_VERSION, mode: m.mode, nonce, keyed: key !== null })
    return { channel: c, mode: m.mode }
  }

  get keyed(): boolean { return this.key !== null }

  write(m: MigrateMessage): void {
    const tag = this.subkey === null ? none : controlTag(this.subkey, this.out, this.sent, encodeMigrate(m))
    this.sent++
    writeMigrate(this.writeFd, m, tag)
  }

  /** The next message (blocking), checked; null on EOF between messages. */
  read(): MigrateMessage | null {
    const body = readControlMarker(this.readFd)
    if (body === null) return null
    const { m, tag } = decodeTagged(body)
    return this.check(m, tag)
  }

  private check(m: MigrateMessage, tag: Buffer | null): MigrateMessage {
    const seq = this.received++
    if (this.subkey === null) return m
    // The tag covers the fields as encoded canonically (another encoding of the same fields is the same message).
    if (tag === null || !controlAuthentic(this.subkey, this.in_, seq, encodeMigrate(m), tag)) {
      throw new FramingError(`migration channel: message ${seq} from the ${this.in_ === FROM_SOURCE ? 'source' : 'destination'} (${m.kind}) ` +
        `${tag === null ? 'has no tag' : 'fails its tag'}: not from the other end of this session, or altered, reordered or replayed`)
    }
    return m
  }
}
