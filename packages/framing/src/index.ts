export { FramingError, ShardError } from './errors.js'
export * from './constants.js'
export { encodeMarker, decodeMarker, type Marker, type MarkerBody } from './marker.js'
export { checkFileName } from './names.js'
export { Field, type FieldName } from './extensions.js'
export { ShardWriter, type ShardWriterOptions } from './writer.js'
export { ImageReader, type ImageEvent, type ShardStat } from './image-reader.js'
export {
  PAGE_STREAM_VERSION, PAGE_STREAM_PAGE_SIZE, DUMP_ID_BYTES, MAX_RANGE_PAGES, MAX_PAGE_MARKER_LEN, PageStreamDecoder, decodePageMarker,
  encodeDone, encodeHello, encodePush, encodeRangeHeader, encodeRefHeader, encodeRequest, MAX_REF_FILE_NAME,
  type PageMessage, type PageRun, type PageRef,
} from './page-stream.js'
export { type ExtEvent } from './image-reader.js'
export { ExtWriter } from './ext/ext-writer.js'
export { DecodingReader, type DecodedEvent, type Placer, type LazyFiles } from './ext/decoding-reader.js'
export { DecodeWindow, WindowStream, type StoredChunk, type StoredSource } from './ext/decode-window.js'
export { parseCompress, isExtended, ZSTD_DEFAULT_LEVEL, type CompressMode, type ExtWriteOptions, type ExtReadOptions } from './ext/options.js'
export { readKeyFile, KeyFileError } from './ext/key-file.js'
export { type ExtStats } from './ext/stats.js'
export { Codec, MAX_RAW_CHUNK, EXT_CHUNK, STREAM_ID_BYTES } from './ext/limits.js'
export type { StreamHeader, ChunkHeader, ImageTrailer } from './ext/messages.js'
export { defaultThreads } from '@criu-pipes/workers'
export { ContentWriter, type ContentOptions, type ContentStats } from './content/content-writer.js'
export { IndexWriter, readIndex, type ContentIndex } from './content/index-file.js'
export { buildTable, probe, type SharedTable } from './content/base-table.js'
export { BaseDir } from './ext/base-dir.js'
export { isPagesFile, hashPages } from './ext/refs.js'
export { LADDER } from './ext/adaptive.js'
export { CONTENT_CHUNK, MAX_REF_RUN, REF_HASH_BYTES } from './ext/limits.js'
export type { ChunkRef } from './ext/messages.js'
export type { ImageSink } from './sink.js'
export {
  MIGRATE_VERSION, MAX_MIGRATE_MARKER_LEN, MigrateChannel, RoundStatus, SESSION_NONCE_BYTES, encodeMigrate, decodeMigrate, readMigrate, writeMigrate,
  type MigrateMessage, type RoundStatusCode,
} from './migrate.js'
