/** Anything wrong with a shard stream: damaged, truncated, or not a criu-image-streamer stream at all. */
export class FramingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'FramingError'
  }
}
