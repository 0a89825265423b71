// Post-copy migration over real ssh between two hosts made of network namespaces
// (scripts/scenarios/postcopy-ssh.sh, on scripts/lib/two-hosts.sh): one ssh session carries the
// page stream both ways, nothing but sshd listens. The source process is gone at the end, the
// copy runs with intact memory. And the same while another local user tries every listener and
// socket file of both hosts from start to end: none leads to the page server, nothing changes.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import t from 'tap'
import type { Test } from 'tap'
import {
  allDelivered, buildWorkload, criuBin, killGroup, needCriu, procStat, raisePipeMaxSize, repoRoot, rootSummary, testUser,
  tmpDir, waitFor,
} from '../lib/index.js'

const MIB = 128
const NPAGES = (MIB << 20) / 4096
const SCENARIO = join(repoRoot(), 'scripts', 'scenarios', 'postcopy-ssh.sh')

/** Runs the scenario; `onHosts` is called with the two namespaces as soon as they are up. */
async function scenario(t: Test, env: Record<string, string> = {}, onHosts?: (src: string, dst: string, run: string) => void): Promise<{ run: string; out: string; exitCode: number | undefined; all: string }> {
  raisePipeMaxSize(t)
  const run = tmpDir(t)
  const child = execa('bash', [SCENARIO, run, String(MIB)], {
    env: { CRIU: criuBin(), MEMHOG: await buildWorkload(), ...env }, reject: false, timeout: 300_000, all: true,
  })
  let seen = ''
  child.stdout?.on('data', (b: Buffer) => {
    const had = /^hosts /m.test(seen)
    seen += b.toString()
    const m = /^hosts (\S+) (\S+)$/m.exec(seen)
    if (!had && m) onHosts?.(m[1]!, m[2]!, run)
  })
  const r = await child
  return { run, out: String(r.stdout), exitCode: r.exitCode, all: String(r.all ?? '') }
}

/** The migration went through: the source is gone, the copy verified twice, every page came. */
function migrated(t: Test, r: Awaited<ReturnType<typeof scenario>>): void {
  const { out, run } = r
  const pid = (k: string): number | undefined => { const m = new RegExp(`^${k} (\\d+)$`, 'm').exec(out); return m ? Number(m[1]) : undefined }
  t.equal(r.exitCode, 0, `the scenario ran through: ${r.all.slice(-2000)}`)
  const sourcePid = pid('source')
  t.ok(sourcePid !== undefined && pid('restored') !== undefined, 'it named both processes')
  // The copy runs in the destination namespace, which the scenario takes down at its end: it
  // checks the copy itself, with memhog's page-by-page verify, before that.
  t.match(out, /^source gone$/m, 'the source process is gone at the end')
  t.equal([...out.matchAll(/^copy verified (\d+) ok$/gm)].map((m) => Number(m[1])).join(','), `${NPAGES},${NPAGES}`,
    'the copy verified all its memory, ran on, and verified it again')
  t.match(out, /^copy running$/m)
  t.ok(sourcePid !== undefined && procStat(sourcePid) === undefined, 'no source process on the machine')
  const root = rootSummary(join(run, 'dst-work', 'lazy-pages.log'))
  t.ok(allDelivered(root, NPAGES) && root?.skipped === 0, `every page came over ssh: ${JSON.stringify(root)}`)
  t.match(readFileSync(join(run, 'feed.log'), 'utf8'), /page-feed done: .*PS_IOV_CLOSE answered 0/, 'page-feed closed the session in order')
  t.match(readFileSync(join(run, 'src-images', 'dump.log'), 'utf8'), /Reusing ps socket 3/, 'the dump served on page-feed\'s socketpair')
}

t.test('post-copy over one ssh session between two network namespaces', async (t) => {
  if (!(await needCriu(t))) return
  if (process.getuid?.() !== 0) return t.plan(0, 'needs root (network namespaces)')
  migrated(t, await scenario(t))
  const list = (await execa('ip', ['netns', 'list'])).stdout
  t.notMatch(list, /h7pc-/, 'the two hosts are down')
})

/**
 * The other user's attempt, run in one namespace until killed: every 20 ms it connects to each
 * listening TCP socket (/proc/net/tcp, tcp6) and to each socket file (/proc/net/unix, and the
 * paths it is given), and closes
 * at once: the plain close a CRIU page server takes for a finished transfer. Prints each distinct
 * outcome once (`tcp ADDR:PORT connected`, `unix PATH EACCES`, ...) and `scan` after its first
 * round.
 */
const PROBE = `
const net = require('net'), fs = require('fs')
const seen = new Set()
const say = (k) => { if (!seen.has(k)) { seen.add(k); console.log(k) } }
const read = (f) => { try { return fs.readFileSync(f, 'utf8').split('\\n').slice(1) } catch { return [] } }
const v4 = (h) => { const ip = [6, 4, 2, 0].map((i) => parseInt(h.slice(i, i + 2), 16)).join('.'); return ip === '0.0.0.0' ? '127.0.0.1' : ip }
const v6 = (h) => {
  if (/^0+$/.test(h)) return '::1'
  const b = [0, 8, 16, 24].map((w) => h.slice(w, w + 8).match(/../g).reverse().join('')).join('')
  return b.match(/..../g).join(':')
}
function attempt(what, opts) {
  const s = net.connect(opts)
  s.on('connect', () => { say(what + ' connected'); s.destroy() })
  s.on('error', (e) => say(what + ' ' + e.code))
}
function scan() {
  for (const [f, dec] of [['/proc/net/tcp', v4], ['/proc/net/tcp6', v6]]) {
    for (const l of read(f)) {
      const c = l.trim().split(/\\s+/)
      if (c[3] !== '0A') continue
      const [a, p] = c[1].split(':')
      const host = dec(a), port = parseInt(p, 16)
      attempt('tcp ' + host + ':' + port, { host, port })
    }
  }
  for (const l of read('/proc/net/unix')) {
    const c = l.trim().split(/\\s+/)
    if (c[3] === '00010000' && c[7] && c[7].startsWith('/')) attempt('unix ' + c[7], { path: c[7] })
  }
  // Socket files bound through a directory fd show in /proc/net/unix under that bind path: the
  // ones we know of are tried by name too.
  for (const path of process.argv.slice(1)) attempt('unix ' + path, { path })
}
scan(); say('scan'); setInterval(scan, 20)
`

t.test('another local user tries every listener and socket file of both hosts throughout: the migration is untouched', async (t) => {
  if (!(await needCriu(t))) return
  if (process.getuid?.() !== 0) return t.plan(0, 'needs root (network namespaces, a user)')
  const user = testUser(t, 'h14ps')
  const probes: { ns: string; out: string[]; child: ReturnType<typeof execa> }[] = []
  const probe = (ns: string, sockets: string[]): void => {
    // Without the runner's NODE_OPTIONS (tap adds it to every child): it names loaders inside the
    // checkout, which the other user may not read (a clone under a 0700 mktemp -d): no node then.
    const child = execa('nsenter', [`--net=/run/netns/${ns}`, 'runuser', '-u', user.name, '--', 'env', '-u', 'NODE_OPTIONS', process.execPath, '-e', PROBE, ...sockets],
      { cwd: '/', detached: true, reject: false, stdin: 'ignore' })
    const p = { ns, out: [] as string[], child }
    child.stdout?.on('data', (b: Buffer) => p.out.push(...b.toString().split('\n').filter(Boolean)))
    t.teardown(() => killGroup(child.pid!))
    probes.push(p)
  }
  // A slow push: the migration takes seconds, and the other user keeps trying all along.
  const r = await scenario(t, { FEED_MAX_RATE: '32' }, (src, dst, run) => {
    probe(src, [])
    probe(dst, [join(run, 'dst-work', 'lazy-pages.socket')])
  })
  t.equal(probes.length, 2, 'the other user was in both hosts')
  await waitFor('both probes to have scanned', () => (probes.every((p) => p.out.includes('scan')) ? true : undefined))
  for (const p of probes) killGroup(p.child.pid!)
  const [src, dst] = probes
  t.same(src!.out.filter((l) => l.endsWith(' connected')), [], `nothing on the source was reachable: ${src!.out.join('; ')}`)
  const dstReached = dst!.out.filter((l) => l.endsWith(' connected'))
  t.ok(dstReached.length > 0 && dstReached.every((l) => /^tcp [\d.]+:22 connected$/.test(l)),
    `on the destination only sshd was (the probe works): ${dst!.out.join('; ')}`)
  t.ok(dst!.out.some((l) => /lazy-pages\.socket (EACCES|ENOENT)$/.test(l)), 'uffd-serve\'s socket file was out of reach')
  migrated(t, r)
})
