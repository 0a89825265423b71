import { dup } from '@criu-pipes/sys'

/**
 * Defaults for -s and -p are dups of stdin/stdout/stderr, as criu-image-streamer has them: the
 * binary then owns its fds and closing a shard does not close Node's own stdio.
 */
export const dupOf = (fd: number): number => dup(fd)
