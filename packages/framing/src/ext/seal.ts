// Everything about AES-256-GCM in the stream, on both sides and on every thread, in one place.
//  - One key file (32 bytes) may protect many streams, so no stream uses it directly: each uses
//    a subkey HKDF-SHA256(key, salt = its random 16-byte stream id). Under that subkey the nonce
//    of a marker is its seq (96-bit big-endian counter), and every seq occurs once per stream:
//    a nonce never repeats under one key.
//  - A chunk's associated data binds the stream id, its seq, its header (codec, lengths) and the
//    name of the file it belongs to: a chunk cannot be moved, reordered, replayed or relabelled.
//  - A reference's tag (GCM over no plaintext) binds the same, and what it points at (base file,
//    offset, length, run hash): a reference cannot be forged, moved, repeated or altered.
//  - The trailer's tag (GCM over no plaintext) binds the SHA-256 of every marker before it, so
//    a marker that is not a chunk (filename, file_eof) cannot be forged, dropped or renumbered.
//  - img-migrate's control messages: a subkey per session, HKDF(key, salt = both sides' random
//    hello nonces), so no message of another session (or an old one, replayed whole) is
//    accepted; each message's tag (GCM over no plaintext) binds its direction, its number in
//    that direction (the nonce) and its fields: none can be forged, dropped, reordered or
//    replayed within the session either.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, timingSafeEqual, type Hash } from 'node:crypto'
import { encodeMarker, type Marker } from '../marker.js'
import { TAG_BYTES } from './limits.js'

const CIPHER = 'aes-256-gcm'
const SUBKEY_INFO = 'criu-pipes stream subkey v1 aes-256-gcm'
const CHUNK_AAD = Buffer.from('criu-pipes chunk v1\0')
const TRAILER_AAD = Buffer.from('criu-pipes trailer v1\0')
const REF_AAD = Buffer.from('criu-pipes ref v1\0')
const CONTROL_SUBKEY_INFO = 'criu-pipes img-migrate control v1'
const CONTROL_AAD = Buffer.from('criu-pipes control v1\0')
export const KEY_BYTES = 32

export function deriveSubkey(key: Uint8Array, streamId: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', key, streamId, SUBKEY_INFO, KEY_BYTES))
}

function nonce(seq: number, direction = 0): Buffer {
  const n = Buffer.alloc(12)
  n.writeUInt8(direction, 0)
  n.writeBigUInt64BE(BigInt(seq), 4)
  return n
}

/** The control subkey of one img-migrate session: the source's hello nonce, then the destination's. */
export function controlSubkey(key: Uint8Array, sourceNonce: Uint8Array, destinationNonce: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.concat([sourceNonce, destinationNonce]), CONTROL_SUBKEY_INFO, KEY_BYTES))
}

/** The tag of control message number `seq` sent in `direction` (1: source to destination, 2: back), `fields` its encoding without the tag. */
export function controlTag(subkey: Uint8Array, direction: number, seq: number, fields: Uint8Array): Buffer {
  const cipher = createCipheriv(CIPHER, subkey, nonce(seq, direction), { authTagLength: TAG_BYTES })
  cipher.setAAD(Buffer.concat([CONTROL_AAD, fields]))
  cipher.final()
  return cipher.getAuthTag()
}

export function controlAuthentic(subkey: Uint8Array, direction: number, seq: number, fields: Uint8Array, tag: Uint8Array): boolean {
  return sameTag(controlTag(subkey, direction, seq, fields), tag)
}

export interface ChunkContext { streamId: Uint8Array; seq: number; codec: number; rawLength: number; storedLength: number; name: string }

export function chunkAad(c: ChunkContext): Buffer {
  const fixed = Buffer.alloc(8 + 1 + 4 + 4)
  fixed.writeBigUInt64LE(BigInt(c.seq), 0)
  fixed.writeUInt8(c.codec, 8)
  fixed.writeUInt32LE(c.rawLength, 9)
  fixed.writeUInt32LE(c.storedLength, 13)
  return Buffer.concat([CHUNK_AAD, c.streamId, fixed, Buffer.from(c.name)])
}

/** Encrypts `data` (a chunk's stored bytes); returns the ciphertext (same length) and tag. */
export function sealChunk(subkey: Uint8Array, c: ChunkContext, data: Uint8Array): { ciphertext: Buffer; tag: Buffer } {
  const cipher = createCipheriv(CIPHER, subkey, nonce(c.seq), { authTagLength: TAG_BYTES })
  cipher.setAAD(chunkAad(c))
  const ciphertext = cipher.update(data)
  cipher.final()
  return { ciphertext, tag: cipher.getAuthTag() }
}

/** Decrypts and authenticates; throws when the tag does not match (damage, wrong key, moved chunk). */
export function openChunk(subkey: Uint8Array, c: ChunkContext, ciphertext: Uint8Array, tag: Uint8Array): Buffer {
  const d = createDecipheriv(CIPHER, subkey, nonce(c.seq), { authTagLength: TAG_BYTES })
  d.setAAD(chunkAad(c))
  d.setAuthTag(tag)
  const plain = d.update(ciphertext)
  try {
    d.final()
  } catch {
    throw new Error('authentication failed (wrong key, or the chunk was damaged or moved)')
  }
  return plain
}

export interface RefContext { streamId: Uint8Array; seq: number; name: string; baseFile: string; baseOffset: number; length: number; hash: Uint8Array }

/** The two names are the only variable-length parts: the base file's goes with its length. */
export function refAad(r: RefContext): Buffer {
  const baseFile = Buffer.from(r.baseFile)
  const fixed = Buffer.alloc(8 + 8 + 4 + 2)
  fixed.writeBigUInt64LE(BigInt(r.seq), 0)
  fixed.writeBigUInt64LE(BigInt(r.baseOffset), 8)
  fixed.writeUInt32LE(r.length, 16)
  fixed.writeUInt16LE(baseFile.length, 20)
  return Buffer.concat([REF_AAD, r.streamId, fixed, r.hash, baseFile, Buffer.from(r.name)])
}

export function refTag(subkey: Uint8Array, r: RefContext): Buffer {
  return emptyTag(subkey, r.seq, refAad(r))
}

/** Whether `tag` authenticates the reference (in constant time, like GCM's own check). */
export function refAuthentic(subkey: Uint8Array, r: RefContext, tag: Uint8Array): boolean {
  return sameTag(refTag(subkey, r), tag)
}

export function trailerAuthentic(subkey: Uint8Array, streamId: Uint8Array, seq: number, digest: Uint8Array, tag: Uint8Array): boolean {
  return sameTag(trailerTag(subkey, streamId, seq, digest), tag)
}

const sameTag = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && timingSafeEqual(a, b)

function emptyTag(subkey: Uint8Array, seq: number, aad: Buffer): Buffer {
  const cipher = createCipheriv(CIPHER, subkey, nonce(seq), { authTagLength: TAG_BYTES })
  cipher.setAAD(aad)
  cipher.final()
  return cipher.getAuthTag()
}

function trailerAad(streamId: Uint8Array, seq: number, digest: Uint8Array): Buffer {
  const s = Buffer.alloc(8)
  s.writeBigUInt64LE(BigInt(seq))
  return Buffer.concat([TRAILER_AAD, streamId, s, digest])
}

export function trailerTag(subkey: Uint8Array, streamId: Uint8Array, seq: number, digest: Uint8Array): Buffer {
  return emptyTag(subkey, seq, trailerAad(streamId, seq, digest))
}

/**
 * SHA-256 over the canonical encoding of every marker of a stream (length prefix included), in
 * seq order, from the stream header up to the trailer (excluded). The writer hashes what it
 * writes; the reader re-encodes what it decoded, so the digest covers the markers' fields, not
 * the bytes received: another protobuf encoding of the same fields (field order, a longer
 * varint) gives the same digest.
 */
export class Transcript {
  private readonly hash: Hash = createHash('sha256')
  add(m: Marker): void { this.hash.update(encodeMarker(m)) }
  addEncoded(bytes: Uint8Array): void { this.hash.update(bytes) }
  digest(): Buffer { return this.hash.copy().digest() }
}
