export { FramingError } from './errors.js'
export * from './constants.js'
export { encodeMarker, decodeMarker, type Marker, type MarkerBody } from './marker.js'
export { checkFileName } from './names.js'
export { Field, type FieldName } from './extensions.js'
export { ShardWriter, type ShardWriterOptions } from './writer.js'
export { ImageReader, type ImageEvent, type ShardStat } from './image-reader.js'
export {
  PAGE_STREAM_VERSION, PAGE_STREAM_PAGE_SIZE, MAX_RANGE_PAGES, MAX_PAGE_MARKER_LEN, PageStreamDecoder, decodePageMarker,
  encodeDone, encodeHello, encodePush, encodeRangeHeader, encodeRequest, type PageMessage, type PageRun,
} from './page-stream.js'
