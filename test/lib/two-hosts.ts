// Two hosts on one machine for tests: a thin wrapper over scripts/lib/two-hosts.sh (the one
// implementation; see its header). `up` makes two network namespaces joined by a veth pair
// with a real sshd in the destination, keys generated for the run; teardown takes it all down.
import { execa } from 'execa'
import { join } from 'node:path'
import { repoRoot } from './paths.js'
import type { TeardownHost } from './tmp-dir.js'

export interface TwoHosts {
  /** The run's private dir (keys, ssh_config); gone after down(). */
  dir: string
  srcNs: string
  dstNs: string
  srcAddr: string
  dstAddr: string
  sshConfig: string
  /** The shell prefix that runs a command in the source namespace ("this host"). */
  onSrc: string
  /** The shell prefix that runs a command on the destination host, over ssh from the source. */
  sshDst: string
  /** The environment the script exports (TWO_HOSTS_*), for scripts that source it. */
  env: Record<string, string>
  down(): Promise<void>
}

export interface TwoHostsOptions {
  /** A tbf cap on both veth ends, in tc's units (e.g. '1gbit'). */
  rate?: string
  /** A directory put first on the PATH of every ssh session (where the binaries are). */
  path?: string
  /** At most 6 characters; names every interface and namespace of the run. */
  prefix?: string
}

const script = () => join(repoRoot(), 'scripts', 'lib', 'two-hosts.sh')

/** Brings the two hosts up; registered for teardown on `t` when given. */
export async function twoHostsUp(t?: TeardownHost, opts: TwoHostsOptions = {}): Promise<TwoHosts> {
  const args = ['up', ...(opts.rate ? ['--rate', opts.rate] : []), ...(opts.path ? ['--path', opts.path] : [])]
  const env = opts.prefix ? { TWO_HOSTS_PREFIX: opts.prefix } : {}
  const r = await execa('bash', [script(), ...args], { env, reject: false, timeout: 60_000 })
  if (r.exitCode !== 0) throw new Error(`two-hosts up failed (exit ${r.exitCode}): ${r.stderr.trim()}`)
  const vars: Record<string, string> = {}
  // Lines are `export NAME=VALUE`, VALUE shell-quoted by printf %q; ours never need quoting.
  for (const m of r.stdout.matchAll(/^export (TWO_HOSTS_\w+)=(.*)$/gm)) vars[m[1]!] = m[2]!
  const v = (k: string) => vars[`TWO_HOSTS_${k}`] ?? ''
  const hosts: TwoHosts = {
    dir: v('DIR'), srcNs: v('SRC_NS'), dstNs: v('DST_NS'), srcAddr: v('SRC_ADDR'), dstAddr: v('DST_ADDR'),
    sshConfig: v('SSH_CONFIG'),
    onSrc: `nsenter --net=/run/netns/${v('SRC_NS')}`,
    sshDst: `nsenter --net=/run/netns/${v('SRC_NS')} ssh -F ${v('SSH_CONFIG')} dst`,
    env: vars,
    down: async () => {
      await execa('bash', [script(), 'down', hosts.dir], { reject: false, timeout: 60_000 })
    },
  }
  t?.teardown(() => hosts.down())
  return hosts
}
