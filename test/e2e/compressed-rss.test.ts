// img-buffer's memory while serving a compressed image (issue 15.2): pages files are decoded
// through the decode window just ahead of CRIU's reads, never held decoded, so a 1 GiB image
// is served with img-buffer's peak RSS far under its size, from shard files and from pipes
// (then the compressed bytes are held, not the decoded ones). Bounds with a generous margin:
// the targets are 256 MiB, and compressed size + 256 MiB.
import t from 'tap'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { needCriu, runCriu, startWorkload, tmpDir, waitFor, restoredAndVerified } from '../lib/index.js'
import { bin, startShell } from '../lib/bins.js'

const MIB = 1024
const OK = `verified ${(MIB << 20) / 4096} ok`
// Generous: the targets plus as much again for what a shared CI machine may add.
const FILE_BOUND = 512 << 20
const PIPE_MARGIN = 512 << 20
const waitSocket = (path: string) => waitFor(`socket ${path}`, () => (existsSync(path) ? true : undefined), { timeoutMs: 300_000 })

/** VmHWM (peak RSS) of `pid` in bytes, or null once it is gone. */
function peakRss(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : null
  } catch { return null }
}

t.test('a 1 GiB zstd image served from shard files, then from pipes: img-buffer peak RSS far under the image', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const dumpDir = join(dir, 'dump')
  mkdirSync(dumpDir)
  const w = await startWorkload({ mib: MIB, dir, memory: 'mixed' })
  t.teardown(() => w.kill())
  await w.waitReady(300_000)
  const cap = await startShell(`${bin('img-split')} -D ${dumpDir} -s 3,4 --compress zstd --threads 2 3>${dir}/s0 4>${dir}/s1 2>${dir}/split.err`, { timeoutMs: 600_000 })
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  await runCriu(['dump', '-t', String(w.pid), '-D', dumpDir, '--stream'], { timeout: 600_000 })
  await w.exited
  t.equal((await cap.done).exitCode, 0, readFileSync(join(dir, 'split.err'), 'utf8'))
  const stored = ['s0', 's1'].reduce((a, s) => a + readFileSync(join(dir, s)).length, 0)

  for (const [how, shards, bound] of [
    ['shard files', `3<${dir}/s0 4<${dir}/s1`, FILE_BOUND],
    ['pipes', `3< <(cat ${dir}/s0) 4< <(cat ${dir}/s1)`, stored + PIPE_MARGIN],
  ] as const) {
    const srvDir = join(dir, `serve-${how.replace(' ', '-')}`)
    mkdirSync(srvDir)
    const srv = await startShell(`exec ${bin('img-buffer')} -D ${srvDir} -s 3,4 ${shards} 2>${dir}/serve.err`, { timeoutMs: 600_000 })
    let peak = 0
    const poll = setInterval(() => { peak = Math.max(peak, peakRss(srv.pid) ?? 0) }, 50)
    try {
      await waitSocket(join(srvDir, 'streamer-serve.sock'))
      await restoredAndVerified(t, ['-D', srvDir, '--stream'], w.logPath, OK)
      const r = await srv.done
      t.equal(r.exitCode, 0, readFileSync(join(dir, 'serve.err'), 'utf8'))
    } finally {
      clearInterval(poll)
    }
    t.ok(peak > 0, 'img-buffer\'s VmHWM was read')
    t.ok(peak < bound, `from ${how}: peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB < ${(bound / 2 ** 20).toFixed(0)} MiB (image ${MIB} MiB, ${(stored / 2 ** 20).toFixed(0)} MiB stored)`)
  }
})
