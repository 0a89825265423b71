// The one place libcrypto (OpenSSL 3, Debian's libssl3) is declared: the page hash of incremental
// checkpoints is SHA-256 (framing/src/ext/refs.ts), called here once per page. node:crypto's
// one-shot crypto.hash() costs a JS wrapper and a fresh Buffer per call; on 4 KiB pages the call
// itself is a large part of the cost (README, "Incremental checkpoints": 0.74 CPU-s per GB here,
// node:crypto 0.90). OpenSSL picks SHA-NI or AVX2 at run time.
import koffi from 'koffi'

// Loaded on first use, not with this package: a capture without incremental checkpoints never
// maps it (test/bins/startup.test.ts), and one with them loads it before CRIU connects (loadSha256).
type Sha256 = (data: Uint8Array, len: number, md: Uint8Array) => unknown
let SHA256: Sha256 | null = null

export const SHA256_BYTES = 32

/** Loads libcrypto now (idempotent): for whoever must not pay for it later, while a process is frozen. */
export function loadSha256(): void {
  SHA256 ??= koffi.load('libcrypto.so.3').func('void *SHA256(const void *data, size_t len, void *md)') as Sha256
}

/** SHA-256 of `data` into `out[0, 32)` (both views of any buffer, shared memory included). */
export function sha256Into(data: Uint8Array, out: Uint8Array): void {
  if (out.length < SHA256_BYTES) throw new RangeError('sha256Into: out is shorter than 32 bytes')
  if (!SHA256) loadSha256()
  SHA256!(data, data.length, out)
}
