// `-n N --filter CMD`, the same on every streaming binary. Without -s, every filter's other end
// is the binary's stdout (capture) or stdin (read side), as GNU split hands its stdout to each
// filter; with -s, filter i gets fd i, so -s must list N fds.
import type { Argv } from 'yargs'
import { UsageError } from '../cli/usage-error.js'
import { parseFdList } from '../cli/fd-lists.js'
import type { FilterSpec } from './shard-filters.js'

export function filterOptions<T>(y: Argv<T>, what: 'feed' | 'drain') {
  const filterDoc = what === 'feed'
    ? 'pipe each shard into its own `sh -c CMD` ($SHARD, $SHARDS set); every filter must exit 0'
    : 'read each shard from the stdout of its own `sh -c CMD` ($SHARD, $SHARDS set); every filter must exit 0'
  return y
    .option('shards', { alias: 'n', type: 'number', describe: 'number of shards with --filter [default: the -s count, or 1]' })
    .option('filter', { type: 'string', describe: filterDoc })
}

/** The filter spec, or null without --filter. */
export function filterSpec(a: { shards?: number | undefined; filter?: string | undefined; 'shard-fds'?: string | undefined }): FilterSpec | null {
  const sFds = a['shard-fds'] !== undefined ? parseFdList(a['shard-fds'], '--shard-fds') : undefined
  if (a.filter === undefined) {
    if (a.shards !== undefined) throw new UsageError('-n/--shards is for --filter: without it the shards are the -s fds')
    return null
  }
  if (a.filter.trim() === '') throw new UsageError('--filter: the command is empty')
  const count = a.shards ?? sFds?.length ?? 1
  if (!Number.isInteger(count) || count < 1) throw new UsageError(`-n: "${a.shards}" is not a positive whole number`)
  if (sFds && sFds.length !== count) throw new UsageError(`-n ${count} with ${sFds.length} fds in -s: give one -s fd per shard, or none`)
  return { command: a.filter, count }
}
