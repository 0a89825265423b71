// Post-copy migration over real ssh between two hosts made of network namespaces
// (scripts/scenarios/postcopy-ssh.sh, on scripts/lib/two-hosts.sh): one ssh session carries the
// page stream both ways, nothing but sshd listens. The source process is gone at the end, the
// copy runs with intact memory.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import t from 'tap'
import {
  allDelivered, buildWorkload, criuBin, needCriu, procStat, raisePipeMaxSize, repoRoot, rootSummary, tmpDir,
} from '../lib/index.js'

const MIB = 128
const NPAGES = (MIB << 20) / 4096
const SCENARIO = join(repoRoot(), 'scripts', 'scenarios', 'postcopy-ssh.sh')

t.test('post-copy over one ssh session between two network namespaces', async (t) => {
  if (!(await needCriu(t))) return
  if (process.getuid?.() !== 0) return t.plan(0, 'needs root (network namespaces)')
  raisePipeMaxSize(t)
  const run = tmpDir(t)
  const r = await execa('bash', [SCENARIO, run, String(MIB)], {
    env: { CRIU: criuBin(), MEMHOG: await buildWorkload() }, reject: false, timeout: 300_000, all: true,
  })
  const out = r.stdout
  const pid = (k: string): number | undefined => { const m = new RegExp(`^${k} (\\d+)$`, 'm').exec(out); return m ? Number(m[1]) : undefined }
  t.equal(r.exitCode, 0, `the scenario ran through: ${r.all?.slice(-2000)}`)
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
  const list = (await execa('ip', ['netns', 'list'])).stdout
  t.notMatch(list, /h7pc-/, 'the two hosts are down')
})
