import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { hashPages, runHash } from '../../src/ext/refs.js'
import { CONTENT_CHUNK, REF_HASH_BYTES } from '../../src/ext/limits.js'

const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest()

t.test('a page hash is its SHA-256, zero pages (taken without hashing) and pages that only start with zeros alike', t => {
  const zero = Buffer.alloc(CONTENT_CHUNK)
  const lateByte = Buffer.alloc(CONTENT_CHUNK); lateByte[CONTENT_CHUNK - 1] = 1
  const pages = [zero, randomBytes(CONTENT_CHUNK), lateByte, zero, Buffer.alloc(CONTENT_CHUNK, 7)]
  const out = Buffer.alloc(pages.length * REF_HASH_BYTES + 5)
  hashPages(Buffer.concat(pages), pages.length, out, 5)
  pages.forEach((p, i) => t.same(out.subarray(5 + i * REF_HASH_BYTES, 5 + (i + 1) * REF_HASH_BYTES), sha256(p), `page ${i}`))
  t.same(runHash(out.subarray(5)), sha256(out.subarray(5)), 'a run hash is the SHA-256 of its page hashes')
  t.end()
})
