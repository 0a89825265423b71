/** Anything wrong with a shard stream: damaged, truncated, or not a criu-image-streamer stream at all. */
export class FramingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'FramingError'
  }
}

/**
 * A FramingError about one shard: `detail` without the shard's name, so that whoever knows the
 * shard better (a --filter's command: what the user wrote) can name it instead of our fd.
 */
export class ShardError extends FramingError {
  constructor(readonly shard: number, readonly detail: string, where = `shard ${shard}`) {
    super(`${where}: ${detail}`)
    this.name = 'ShardError'
  }
}
