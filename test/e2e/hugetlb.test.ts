// hugetlb memory through the stream, with real CRIU 4.1 (workload: test/fixtures/hugehog.c).
// Shared MAP_HUGETLB memory is restored as shmem, read in order: it streams. Private MAP_HUGETLB
// memory is read by CRIU's restorer with preadv() at its offset in pages-N.img, which a stream (a
// pipe) cannot give; img-buffer says so before CRIU starts, and a directory restore of the same
// stream works. (criu-image/src/hugetlb.ts has CRIU's side of it.)
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  CriuError, needCriu, reserveHugePages, runCriu, startRestore, startWorkload, tmpDir, waitFor, workloadFromPid,
  type HugehogMode,
} from '../lib/index.js'
import { bin, startShell } from '../lib/bins.js'

/** Huge pages of each kind (2 MiB each); 1025 = 2 x 512 small pages plus hugehog's ordinary one. */
const NHUGE = 2
const OK = (mode: HugehogMode): string => `verified ${(mode === 'both' ? 2 : 1) * NHUGE * 512 + 1} ok`
/** The dumped workload's pages and the restored one's, with room to spare. */
const HUGE_PAGES_NEEDED = 4 * NHUGE + 2

const HOOK = bin('img-split').replace(/^node /, '')
const waitSocket = (path: string) => waitFor(`socket ${path}`, () => (existsSync(path) ? true : undefined))

async function hugehog(t: Test, dir: string, mode: HugehogMode) {
  const w = await startWorkload({ program: 'hugehog', mib: NHUGE, mode, dir })
  t.teardown(() => w.kill())
  await w.waitReady()
  t.equal(await w.verify(), OK(mode), `${mode}: verified before the dump`)
  return w
}

function skipWithoutHugePages(t: Test): boolean {
  const why = reserveHugePages(t, HUGE_PAGES_NEEDED)
  if (why !== undefined) t.pass('skipped', { skip: why })
  return why === undefined
}

t.test('shared hugetlb: img-split -> img-buffer -> criu restore --stream, memory intact', async (t) => {
  if (!(await needCriu(t)) || !skipWithoutHugePages(t)) return
  const dir = tmpDir(t)
  const dumpDir = join(dir, 'dump'), srvDir = join(dir, 'serve')
  mkdirSync(dumpDir); mkdirSync(srvDir)
  const w = await hugehog(t, dir, 'shared')
  const pipeline = await startShell(`${bin('img-split')} -D ${dumpDir} 2>${dir}/split.err | ${bin('img-buffer')} -D ${srvDir}`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  await runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream', '--action-script', HOOK])
  await w.exited
  await waitSocket(join(srvDir, 'streamer-serve.sock'))
  const r = await startRestore(['-D', srvDir, '--stream'])
  t.teardown(() => r.kill())
  const rw = workloadFromPid(r.pid, w.logPath)
  t.equal(await rw.verify(), OK('shared'), 'memory intact after the stream restore')
  t.equal(await rw.verify(), OK('shared'), 'and it keeps running')
  await r.kill()
  const p = await pipeline.done
  t.equal(p.exitCode, 0, p.stderr + readFileSync(join(dir, 'split.err'), 'utf8'))
})

t.test('private and shared hugetlb: img-buffer refuses the stream before CRIU starts; a directory restore of it works', async (t) => {
  if (!(await needCriu(t)) || !skipWithoutHugePages(t)) return
  const dir = tmpDir(t)
  const dumpDir = join(dir, 'dump'), srvDir = join(dir, 'serve'), out = join(dir, 'out')
  mkdirSync(dumpDir); mkdirSync(srvDir)
  const w = await hugehog(t, dir, 'both')
  const cap = await startShell(`${bin('img-split')} -D ${dumpDir} > ${dir}/shard`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  await runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream', '--action-script', HOOK])
  await w.exited
  t.equal((await cap.done).exitCode, 0, 'captured')

  const srv = await startShell(`${bin('img-buffer')} -D ${srvDir} -p 9 9>${dir}/progress < ${dir}/shard`)
  let exited = false
  void srv.done.then(() => (exited = true))
  const sock = join(srvDir, 'streamer-serve.sock')
  const first = await waitFor('img-buffer to listen or exit', () => (exited ? 'exited' : existsSync(sock) ? 'listening' : undefined))
  // What it did before: listen, let CRIU restore half-way, then fail on the closed pipe of pages-N.img.
  await t.rejects(runCriu(['restore', '-D', srvDir, '--stream'], { timeout: 30_000 }), CriuError, 'criu restore --stream fails')
  const r0 = await srv.done
  t.equal(first, 'exited', 'img-buffer refused before CRIU could connect')
  t.equal(r0.exitCode, 1, 'img-buffer exits 1')
  t.match(r0.stderr, /^img-buffer: pid \d+ has private MAP_HUGETLB memory with pages \(0x[0-9a-f]+-0x[0-9a-f]+\), which criu restore --stream cannot restore: CRIU reads those pages from pages-\d+\.img by offset \(preadv\), and a stream is a pipe; restore from a directory instead \(img-join -D DIR, then criu restore -D DIR\)$/,
    'one line says why and what works')
  t.notMatch(readFileSync(join(dir, 'progress'), 'utf8'), 'socket-init', 'it never listened')

  const j = await (await startShell(`${bin('img-join')} -D ${out} < ${dir}/shard`)).done
  t.equal(j.exitCode, 0, j.stderr)
  const r = await startRestore(['-D', out])
  t.teardown(() => r.kill())
  const rw = workloadFromPid(r.pid, w.logPath)
  t.equal(await rw.verify(), OK('both'), 'the same stream restores from a directory, memory intact')
  await r.kill()
})
