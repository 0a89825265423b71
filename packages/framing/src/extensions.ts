// Every field number of the shard marker, in ONE place. criu-image-streamer's marker uses 1..5;
// the numbers above are our opt-in extensions. A stream that uses any extension says so in its
// first marker (STREAM_HEADER), so a reader knows from the start what it needs, and a reader
// that does not know a field refuses the stream instead of misreading it (criu-image-streamer
// finds no body it knows in that first marker and stops).
//
// Owners: compression, checksums and encryption (chunk codec, header, trailer); incremental
// checkpoints by content (references to a base); the post-copy page stream (page ranges and
// requests over one bidirectional channel); img-migrate's control messages between images. Add a kind here, never a number elsewhere.
export const Field = {
  // criu-image-streamer's `image.marker`
  SEQ: 1,
  FILENAME: 2,
  FILE_DATA: 3,
  FILE_EOF: 4,
  IMAGE_EOF: 5,
  // stream extensions (message-valued, wire type 2)
  STREAM_HEADER: 6, // first marker of an extended stream: which extensions, stream identity
  CHUNK: 7, // a data chunk with its codec, raw/stored lengths, checksum or AEAD tag
  IMAGE_TRAILER: 8, // ends an extended image: authenticates/checksums the marker transcript
  CHUNK_REF: 9, // incremental: content the receiver's base already holds (hash, length)
  // post-copy page stream (10..15)
  PAGE_RANGE: 10, // feeder -> daemon: one run of pages of one process; its bytes follow
  PAGE_REQUEST: 11, // daemon -> feeder: a fault wants this run first
  PAGES_DONE: 12, // daemon -> feeder: every page arrived; feeder -> daemon: session closed
  PAGE_HELLO: 13, // feeder -> daemon, first: stream version, page size, what is to come
  PAGE_PUSH: 14, // daemon -> feeder: the restore finished (FTSR), start the background push
  PAGE_REF: 15, // feeder -> daemon: a run of pages the daemon's base holds; their hashes follow
  // img-migrate's control channel (16..19), between whole images on the same channel (migrate.ts)
  MIGRATE_HELLO: 16, // source -> destination first (version, mode); destination -> source: ready
  MIGRATE_ROUND: 17, // source -> destination: round n (final or not); one whole image follows
  MIGRATE_RESULT: 18, // destination -> source: a round received (and kept or restored), or why it failed
  MIGRATE_RELEASED: 19, // source -> destination: the final dump ended, the source process is gone: restore
} as const

export type FieldName = keyof typeof Field
