// img-migrate's control messages. The migration channel (one bidirectional byte stream: ssh, or
// anything that carries bytes) holds shard-format frames only, `[u32 LE length][marker]`: these
// control markers, each holding exactly one MIGRATE_* field of extensions.ts (message-valued,
// wire type 2), and between them whole images as one shard each (seq 0 up to image_eof, read with
// ExtReadOptions.continues). Like the page stream's, a control marker carries no seq.
//
//   source -> destination
//     MIGRATE_HELLO  {1 version, 2 mode}                 first message
//     MIGRATE_ROUND  {1 round, 2 final, 3 lazy}          then one whole image; a lazy final
//                                                        round's image holds no lazy memory, and
//                                                        the page stream (page-stream.ts) follows
//                                                        it until PAGES_DONE both ways
//     MIGRATE_RELEASED {1 round}                         after the final receipt: the process is
//                                                        gone here, its pids free: restore it
//   destination -> source
//     MIGRATE_HELLO  {1 version, 2 mode}                 ready: its work dir exists
//     MIGRATE_RESULT {1 round, 2 status, 3 bytes, 4 pid, 5 error (string)}
//
// A reader refuses an unknown field or sub-field, a marker longer than MAX_MIGRATE_MARKER_LEN,
// and a version other than its own.
import { readFull, writeAll } from '@criu-pipes/sys'
import { FramingError } from './errors.js'
import { Field } from './extensions.js'
import { LEN_PREFIX, controlFrame, decodeControl, type KnownFields } from './control-frame.js'

export const MIGRATE_VERSION = 1
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
  | { kind: 'hello'; version: number; mode: number }
  | { kind: 'round'; round: number; final: boolean; lazy: boolean }
  | { kind: 'released'; round: number }
  | { kind: 'result'; round: number; status: RoundStatusCode; bytes: number; pid: number; error: string }

/** The message with its length prefix, ready to write to the channel. */
export function encodeMigrate(m: MigrateMessage): Buffer {
  switch (m.kind) {
    case 'hello': return controlFrame(Field.MIGRATE_HELLO, [[1, m.version], [2, m.mode]])
    case 'round': return controlFrame(Field.MIGRATE_ROUND, [[1, m.round], [2, m.final ? 1 : 0], [3, m.lazy ? 1 : 0]])
    case 'released': return controlFrame(Field.MIGRATE_RELEASED, [[1, m.round]])
    case 'result': {
      // Cut on a character boundary: the reader decodes it as UTF-8.
      let error = Buffer.from(m.error)
      if (error.length > MAX_ERROR_BYTES) error = Buffer.from(error.subarray(0, MAX_ERROR_BYTES).toString().replace(/\uFFFD$/, ''))
      return controlFrame(Field.MIGRATE_RESULT, [[1, m.round], [2, m.status], [3, m.bytes], [4, m.pid], [5, error]])
    }
  }
}

const KNOWN: KnownFields = {
  [Field.MIGRATE_HELLO]: { varints: [1, 2] },
  [Field.MIGRATE_ROUND]: { varints: [1, 2, 3] },
  [Field.MIGRATE_RESULT]: { varints: [1, 2, 3, 4], bytes: [5] },
  [Field.MIGRATE_RELEASED]: { varints: [1] },
}

/** A control marker without its length prefix. */
export function decodeMigrate(buf: Buffer): MigrateMessage {
  const { field, v: g, bytes } = decodeControl(buf, KNOWN, 'migration channel')
  const error = bytes.get(5)?.toString('utf8') ?? ''
  switch (field) {
    case Field.MIGRATE_HELLO:
      if (g(1) !== MIGRATE_VERSION) throw new FramingError(`migration channel version ${g(1)}, this build speaks ${MIGRATE_VERSION}`)
      return { kind: 'hello', version: g(1), mode: g(2) }
    case Field.MIGRATE_ROUND:
      if (g(1) < 1 || g(2) > 1 || g(3) > g(2)) throw new FramingError(`migration channel: bad round ${g(1)} (final ${g(2)}, lazy ${g(3)})`)
      return { kind: 'round', round: g(1), final: g(2) === 1, lazy: g(3) === 1 }
    case Field.MIGRATE_RELEASED:
      return { kind: 'released', round: g(1) }
    default: {
      const status = g(2)
      if (status < RoundStatus.KEPT || status > RoundStatus.FAILED) throw new FramingError(`migration channel: unknown round status ${status}`)
      return { kind: 'result', round: g(1), status: status as RoundStatusCode, bytes: g(3), pid: g(4), error }
    }
  }
}

/** Writes one control message (blocking). */
export function writeMigrate(fd: number, m: MigrateMessage): void {
  writeAll(fd, encodeMigrate(m))
}

/** Reads one control message (blocking); null on EOF between messages. */
export function readMigrate(fd: number): MigrateMessage | null {
  const head = Buffer.alloc(LEN_PREFIX)
  const got = readFull(fd, head, 0, LEN_PREFIX)
  if (got === 0) return null
  if (got < LEN_PREFIX) throw new FramingError('migration channel: truncated (the channel ends inside a marker)')
  const len = head.readUInt32LE(0)
  if (len === 0 || len > MAX_MIGRATE_MARKER_LEN) throw new FramingError(`migration channel: control marker of ${len} bytes (1 to ${MAX_MIGRATE_MARKER_LEN}): not img-migrate at the other end, or damaged`)
  const body = Buffer.alloc(len)
  if (readFull(fd, body) < len) throw new FramingError('migration channel: truncated (the channel ends inside a marker)')
  return decodeMigrate(body)
}
