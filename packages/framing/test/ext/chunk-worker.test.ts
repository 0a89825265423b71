// What a decoding (or encoding) thread loads before it can take a job: it starts on a restore's
// critical path (img-buffer), so it loads what the chunk worker uses and no more. The whole of
// @criu-pipes/sys (every libc declaration, sockets, private directories...) cost each thread
// about 25 ms of CPU.
import t from 'tap'
import { spawnSync } from 'node:child_process'

t.test('the chunk worker loads only the part of @criu-pipes/sys it uses', t => {
  const worker = new URL('../../src/ext/chunk-worker.js', import.meta.url).href
  const log = new URL('../fixtures/import-log.js', import.meta.url).href
  // env -u: without the test runner's loader, whose own modules would be listed too.
  const r = spawnSync('env', ['-u', 'NODE_OPTIONS', process.execPath, '--import', log, '--input-type=module', '-e', `await import(${JSON.stringify(worker)})`], { encoding: 'utf8' })
  t.equal(r.status, 0, r.status === 0 ? 'it loads' : r.stderr)
  const sys = [...new Set(r.stderr.split('\n').filter(u => u.includes('/sys/dist/src/')).map(u => u.replace(/.*\/sys\/dist\/src\//, '')))].sort()
  t.ok(sys.includes('for-workers.js'), `it loads sys through for-workers.js (${sys.join(' ')})`)
  t.notOk(sys.includes('index.js'), 'not the package index')
  t.same(sys.filter(m => /private-dir|server-socket|socket|epoll|uffd|at\.js/.test(m)), [], 'nothing of sockets, epoll, directories')
  t.end()
})
