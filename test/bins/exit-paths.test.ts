// Binaries that started codec workers exit cleanly, however early: img-join -D of hundreds of
// tiny extended streams at several thread counts (a worker torn down while it loaded its native
// modules used to abort the process, SIGABRT, after a good extraction).
import t from 'tap'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ExtWriter, ShardWriter } from '@criu-pipes/framing'
import { tmpDir } from '../lib/tmp-dir.js'
import { bin, startShell } from '../lib/bins.js'

const RUNS_PER_COUNT = 25
const THREADS = [1, 2, 4, 8]
const PARALLEL = 2

t.test('img-join -D of a 1-byte extended stream exits 0, at any thread count, every time', async t => {
  const dir = tmpDir(t)
  const stream = join(dir, 'one.ext')
  const fd = openSync(stream, 'w')
  const w = new ExtWriter(new ShardWriter([fd]), { compress: 'lz4', level: 1, checksum: true, key: null, threads: 1 })
  w.open('inventory.img')
  w.write('inventory.img', Buffer.from('x'))
  w.endFile('inventory.img')
  w.endImage()
  w.close()
  closeSync(fd)
  const runs = THREADS.flatMap(threads => Array.from({ length: RUNS_PER_COUNT }, (_, i) => ({ threads, out: join(dir, `out-${threads}-${i}`) })))
  const failures: string[] = []
  let next = 0
  const runner = async (): Promise<void> => {
    for (let r = runs[next++]; r; r = runs[next++]) {
      // env -u: without the test runner's loader, which tap puts into every child's NODE_OPTIONS.
      const x = await (await startShell(`env -u NODE_OPTIONS ${bin('img-join')} -D ${r.out} --threads ${r.threads} < ${stream} 2>/dev/null`)).done
      if (x.exitCode !== 0) failures.push(`--threads ${r.threads}: exit ${x.exitCode}`)
      else if (readFileSync(join(r.out, 'inventory.img'), 'utf8') !== 'x') failures.push(`--threads ${r.threads}: wrong content`)
    }
  }
  await Promise.all(Array.from({ length: PARALLEL }, runner))
  t.same(failures, [], `${runs.length} runs, every one exited 0 with the file in DIR`)
})
