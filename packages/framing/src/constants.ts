// criu-image-streamer asserts that every marker is shorter than 10 KiB on both sides; a longer
// length prefix can only be damage (or a stream that is not a shard stream at all).
export const MAX_MARKER_LEN = 10 * 1024
// The writer charges a marker one page against a shard's free space: a small write() takes a whole
// pipe-buffer slot that spliced pages cannot share, while FIONREAD counts bytes, not slots.
export const MARKER_COST = 4096
// Shard pipes are asked for 1 MiB. With several shards the chunk is a quarter of the capacity
// less the marker's page, so four marker+chunk pairs fill a shard (258,048 bytes with 1 MiB
// pipes): fine-grained enough to steer data away from a slow consumer. A single shard has
// nothing to balance, and every chunk costs a marker write and a splice: there the chunk is a
// whole pipe less the marker's page. The read side (img-buffer's drain) asks for the same size:
// a single-shard chunk is then about 1 MiB, and a smaller read pipe could not hold even one.
export const SHARD_PIPE_SIZE = 1 << 20
export const MIN_CHUNK = 4096
export const chunkFor = (capacity: number, shards = 2): number =>
  Math.max((shards === 1 ? capacity : capacity / 4) - MARKER_COST, MIN_CHUNK)
// A rest of a burst this short rides with the data before it rather than cost a marker and a
// splice of its own (a 1 MiB burst from CRIU would otherwise leave a page after a one-shard
// chunk); it overcommits a shard pipe by at most this much, so that splice may wait a moment.
export const TAIL_MERGE = 64 * 1024
