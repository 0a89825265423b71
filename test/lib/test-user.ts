// A second, unprivileged local user for the trust-model tests: the "other user" who creates a
// directory before root does, plants symlinks, and tries to move root's sockets aside. Made per
// test with a unique name (no home, no login shell), removed at teardown, also when the test
// fails; commands run as them through runuser.
import { execFileSync } from 'node:child_process'
import { randomInt } from 'node:crypto'
import type { TeardownHost } from './tmp-dir.js'

export interface TestUser {
  name: string
  uid: number
  /** Runs `bash -c cmd` as the user; returns its exit code (output ignored). */
  run(cmd: string): number
}

/** Creates `h1test<random>`; removed when `t` ends. Needs root. */
export function testUser(t: TeardownHost, prefix = 'h1test'): TestUser {
  const name = `${prefix}${randomInt(100_000, 999_999)}`
  execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', name])
  // Their commands run to completion (run() is synchronous): nothing of theirs outlives the test.
  t.teardown(() => { execFileSync('userdel', [name]) })
  const uid = Number(execFileSync('id', ['-u', name]).toString().trim())
  return {
    name,
    uid,
    run: (cmd: string) => {
      try {
        execFileSync('runuser', ['-u', name, '--', 'bash', '-c', cmd], { stdio: 'ignore' })
        return 0
      } catch (e) {
        return (e as { status?: number }).status ?? -1
      }
    },
  }
}
