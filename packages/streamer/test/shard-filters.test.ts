// ShardFilters on their own: real pipes to `sh -c CMD` with $SHARD/$SHARDS, the sinks img-split
// polls (finish closes the filter's stdin; failed/drained from its exit status, never blocking),
// finish() waiting for all, and explain() preferring a filter's failure over the EPIPE it caused.
// The outer fds given are dups: the filters own them, and ShardFilters closes our copies.
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dup, isFifo, poll, writeAll } from '@criu-pipes/sys'
import { ShardFilters, FilterError, withShardFilters } from '../src/index.js'

const dir = mkdtempSync(join(tmpdir(), 'shard-filters-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

/** Polls a condition without busy-waiting (poll(2) with no fds sleeps). */
function until(cond: () => boolean): void {
  for (let i = 0; i < 500 && !cond(); i++) poll([], 10)
}

t.test('feed: each filter reads its shard from a real pipe, with $SHARD and $SHARDS; sinks report exit status', async t => {
  const f = new ShardFilters('feed', { command: `cat > ${dir}/out$SHARD; echo "$SHARD/$SHARDS" > ${dir}/env$SHARD; [ $SHARD = 0 ]`, count: 2 }, [dup(1)])
  t.ok(f.fds.every(isFifo), 'our ends are pipes (splice works)')
  f.fds.forEach((fd, i) => writeAll(fd, Buffer.from(`shard ${i}\n`)))
  const sinks = f.sinks()
  t.same(sinks.map(s => s.drained()), [false, false], 'not drained while the filters still read')
  for (const s of sinks) s.finish()
  until(() => sinks[0]!.drained() && sinks[1]!.failed() !== null)
  t.ok(sinks[0]!.drained(), 'shard 0: its filter exited 0')
  t.equal(sinks[0]!.failed(), null)
  t.match(sinks[1]!.failed(), /^shard 1 of 2: filter '.*' exited with status 1$/, 'shard 1: named, with its status')
  t.notOk(sinks[1]!.drained())
  t.equal(readFileSync(join(dir, 'out1'), 'utf8'), 'shard 1\n', 'the filter read everything')
  t.equal(readFileSync(join(dir, 'env1'), 'utf8'), '1/2\n')
  t.throws(() => f.finish(), FilterError, 'finish() throws the failure')
})

t.test('withShardFilters: drain side reads each filter\'s stdout; a failure after complete bytes still throws', async t => {
  const read = (fds: number[]) => fds.map(fd => readFileSync(fd, 'utf8'))
  t.same(withShardFilters('drain', { command: 'echo "from $SHARD"', count: 2 }, [dup(0)], fds => read(fds)), ['from 0\n', 'from 1\n'])
  t.throws(() => withShardFilters('drain', { command: 'echo "from $SHARD"; exit 4', count: 1 }, [dup(0)], fds => read(fds)),
    /^shard 0 of 1: filter 'echo "from \$SHARD"; exit 4' exited with status 4$/)
  t.equal(withShardFilters('drain', null, [7], fds => fds[0]), 7, 'without a spec the body gets the fds as they are')
})

t.test('explain: the filter that died explains the EPIPE it caused', async t => {
  const f = new ShardFilters('feed', { command: 'exec 0<&-; exit 9', count: 1 }, [dup(1)])
  let err: unknown
  try { for (let i = 0; i < 1000; i++) writeAll(f.fds[0]!, Buffer.alloc(65536)) } catch (e) { err = e }
  t.ok(err, `the write failed: ${String(err)}`)
  const why = f.explain(err)
  t.type(why, FilterError)
  t.match(String((why as Error).message), /exited with status 9$/)
})
