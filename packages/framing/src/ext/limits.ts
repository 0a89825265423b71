// The numbers of the stream extensions (see README, "The shard format"), each named once.

/** STREAM_HEADER.version this code writes and the only one it reads. */
export const EXT_VERSION = 1

/** Codec of a CHUNK: how its stored bytes give its raw bytes. */
export const Codec = { STORED: 0, LZ4: 1, ZSTD: 2, ZERO: 3 } as const
export type Codec = (typeof Codec)[keyof typeof Codec]
export const CODEC_NAMES: Record<Codec, string> = { 0: 'stored', 1: 'lz4', 2: 'zstd', 3: 'zero' }
export const ALL_CODECS = (1 << 4) - 1

export const ChecksumKind = { NONE: 0, XXH64: 1 } as const
export const CipherKind = { NONE: 0, AES_256_GCM: 1 } as const

/**
 * The largest raw chunk a reader accepts: every buffer of the read side is sized from it before
 * a single byte is read, so a lying length can never make a reader allocate more. Writers use
 * EXT_CHUNK; 1 MiB leaves room for a future writer with larger chunks.
 */
export const MAX_RAW_CHUNK = 1 << 20
/**
 * Raw bytes per chunk written: large enough that a codec call and a marker cost little per byte,
 * small enough that the shard balancer can still steer compressed data around a slow consumer
 * (a 256 KiB chunk of a typical heap is 40-80 KiB stored).
 */
export const EXT_CHUNK = 256 * 1024
export const STREAM_ID_BYTES = 16
export const TAG_BYTES = 16
/** SHA-256 of the marker transcript, in IMAGE_TRAILER. */
export const DIGEST_BYTES = 32
/**
 * The read side puts a chunk's stored bytes this far into its slot. (lz4-napi wanted an LZ4 block
 * preceded by its raw length; liblz4 does not, and the offset only remains where the slot's
 * bytes are.)
 */
export const LZ4_SIZE_PREFIX = 4

/**
 * STREAM_HEADER.refs: NONE, or PAGES: CHUNK_REF markers name runs of whole pages of a base
 * checkpoint, hashed with SHA-256 (refs.ts). 1 was the same with xxh3-128, which can be collided
 * at will (README, "Incremental checkpoints"): such a stream is refused by name, never misread.
 */
export const RefKind = { NONE: 0, PAGES_XXH3: 1, PAGES: 2 } as const
/**
 * The content chunk of incremental checkpoints: one page. CRIU's pages files are sequences of
 * pages whose set and order change between rounds (a new mapping, an munmap, an mremap shifts
 * everything after it by whole pages): fixed chunks larger than a page would all misalign after
 * the first such shift, while page chunks still match (README, "Incremental checkpoints").
 */
export const CONTENT_CHUNK = 4096
/**
 * SHA-256, whole: the hash of a page, and of a run of pages (the SHA-256 of their page hashes).
 * Not truncated to 128 bits: that leaves 2^64 work for a collision, within reach of a patient
 * attacker with GPUs; 32 bytes cost 16 more index bytes a page.
 */
export const REF_HASH_BYTES = 32
/**
 * The longest run one CHUNK_REF names: the receiver reads and verifies a run in one piece, so
 * this bounds its memory per reference, whatever a damaged marker says.
 */
export const MAX_REF_RUN = 1 << 20
