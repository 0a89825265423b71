/**
 * A CRIU image that cannot be read or rewritten. The message always starts with the file it is
 * about, because a checkpoint holds dozens of images and "malformed varint" alone says nothing.
 */
export class ImageError extends Error {
  override readonly name = 'ImageError'
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`)
  }
}
