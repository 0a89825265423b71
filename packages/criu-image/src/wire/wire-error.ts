/**
 * A protobuf wire-format problem found without knowing which file the bytes came from. The image
 * layer turns it into an ImageError carrying the file name and entry index (see in-entry.ts).
 */
export class WireError extends Error {
  override readonly name = 'WireError'
}
