// CRIU's side of `--stream` (criu/img-streamer.c, images/img-streamer.proto): every message is a
// u32 length (host order; little-endian on every host CRIU streams on) and a proto2 message:
//   img_streamer_request_entry { required string filename = 1; }   CRIU -> streamer
//   img_streamer_reply_entry   { required bool exists = 1; }       streamer -> CRIU (restore only)
// After a request (and an exists=true reply on restore) CRIU passes one end of a pipe with
// SCM_RIGHTS on the next byte, so nothing here may read past a message.
import { readFull, writeAll } from '@criu-pipes/sys'
import { FramingError, checkFileName } from '@criu-pipes/framing'

// criu-image-streamer asserts requests are under 10 KiB; a longer one is not CRIU talking.
const MAX_REQUEST_LEN = 10 * 1024
export const CAPTURE_SOCKET = 'streamer-capture.sock'
export const SERVE_SOCKET = 'streamer-serve.sock'

/** Reads one request; null when CRIU closed the socket at a message boundary (no more requests). */
export function readRequest(sock: number): string | null {
  const head = Buffer.alloc(4)
  const got = readFull(sock, head)
  if (got === 0) return null
  if (got < 4) throw new FramingError('CRIU socket: connection closed inside a request')
  const len = head.readUInt32LE(0)
  if (len < 2 || len >= MAX_REQUEST_LEN) throw new FramingError(`CRIU socket: request length ${len} out of range`)
  const body = Buffer.alloc(len)
  if (readFull(sock, body) < len) throw new FramingError('CRIU socket: connection closed inside a request')
  // Exactly one field: tag 0x0a (field 1, length-delimited), a varint length, the name.
  if (body[0] !== 0x0a) throw new FramingError(`CRIU socket: malformed request (tag 0x${body[0]!.toString(16)})`)
  let nameLen = 0, off = 1, shift = 0
  for (;;) {
    const b = body[off++]
    if (b === undefined || shift > 21) throw new FramingError('CRIU socket: malformed request (bad length)')
    nameLen |= (b & 0x7f) << shift
    shift += 7
    if (!(b & 0x80)) break
  }
  if (off + nameLen !== len) throw new FramingError('CRIU socket: malformed request (length mismatch)')
  return checkFileName(body.toString('utf8', off, off + nameLen))
}

export function encodeRequest(name: string): Buffer {
  const n = Buffer.from(name)
  const lenBytes: number[] = []
  let v = n.length
  while (v >= 0x80) { lenBytes.push((v & 0x7f) | 0x80); v >>>= 7 }
  lenBytes.push(v)
  const body = Buffer.concat([Buffer.from([0x0a, ...lenBytes]), n])
  const head = Buffer.alloc(4)
  head.writeUInt32LE(body.length, 0)
  return Buffer.concat([head, body])
}

/** `exists` is proto2-required: it is written even when false (`08 00`), or protobuf-c refuses it. */
export function writeReply(sock: number, exists: boolean): void {
  writeAll(sock, Buffer.from([2, 0, 0, 0, 0x08, exists ? 1 : 0]))
}

/** The reply as CRIU reads it (for the CRIU simulator in tests and benchmarks). */
export function readReply(sock: number): boolean {
  const b = Buffer.alloc(6)
  if (readFull(sock, b) < 6 || b.readUInt32LE(0) !== 2 || b[4] !== 0x08 || b[5]! > 1) {
    throw new FramingError(`malformed reply ${b.toString('hex')}`)
  }
  return b[5] === 1
}
