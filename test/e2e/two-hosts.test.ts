// The two-host helper: `ssh dst` reaches a real sshd in the other network namespace with the
// run's own key, the destination is not reachable from the machine's own namespace, and down()
// leaves nothing behind (no namespace, no process, no key dir).
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { execa } from 'execa'
import { shell, twoHostsUp } from '../lib/index.js'

t.test('two hosts: ssh dst runs in the destination namespace; down removes everything', async t => {
  if (process.getuid?.() !== 0) return t.plan(0, 'needs root (network namespaces)')
  const h = await twoHostsUp(t, { rate: '1gbit' })
  t.ok(existsSync(`/run/netns/${h.srcNs}`) && existsSync(`/run/netns/${h.dstNs}`), 'both namespaces exist')
  const remote = await shell(`${h.sshDst} 'readlink /proc/self/ns/net; ip -br addr show'`)
  const dstNet = (await execa('ip', ['netns', 'exec', h.dstNs, 'readlink', '/proc/self/ns/net'])).stdout
  t.equal(remote.stdout.split('\n')[0], dstNet, 'the command ran in the destination namespace')
  t.match(remote.stdout, h.dstAddr, 'where the destination address lives')
  const qdisc = await shell(`${h.onSrc} tc qdisc show`)
  t.match(qdisc.stdout, /tbf .*rate 1Gbit/, 'the link is capped with tbf')
  const ownNet = await shell(`ssh -F ${h.sshConfig} -o ConnectTimeout=2 dst true`, { reject: false })
  t.not(ownNet.exitCode, 0, 'the destination is not reachable from the machine namespace')
  const piped = await shell(`head -c 3000000 /dev/zero | ${h.sshDst} 'wc -c'`)
  t.equal(piped.stdout.trim(), '3000000', 'bytes travel over the link')
  const sshdPid = readFileSync(`${h.dir}/sshd.pid`, 'utf8').trim()
  await h.down()
  t.notOk(existsSync(h.dir), 'the key dir is gone')
  const list = (await execa('ip', ['netns', 'list'])).stdout
  t.notMatch(list, h.srcNs, 'source namespace gone')
  t.notMatch(list, h.dstNs, 'destination namespace gone')
  const stat = existsSync(`/proc/${sshdPid}/stat`) ? readFileSync(`/proc/${sshdPid}/stat`, 'utf8') : ''
  t.ok(stat === '' || / Z /.test(stat), 'sshd is gone (or a zombie waiting for pid 1)')
})

t.test('two hosts: a failing up leaves nothing behind', async t => {
  if (process.getuid?.() !== 0) return t.plan(0, 'needs root (network namespaces)')
  const before = (await execa('ip', ['netns', 'list'])).stdout
  await t.rejects(twoHostsUp(t, { rate: 'bogus', prefix: 'cp2ht' }), /two-hosts up failed/)
  t.equal((await execa('ip', ['netns', 'list'])).stdout, before, 'no namespace left')
  const left = (await execa('bash', ['-c', 'ls -d /tmp/cp2ht-two-hosts.* 2>/dev/null || true'])).stdout
  t.equal(left, '', 'no key dir left')
})
