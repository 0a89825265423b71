// --page-server-proto auto: the wire format of the CRIU that runs the page server, from its
// --version (a default of 4.1 hung every session with the CRIU 4.3 the project installs).
import t from 'tap'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { protoOfCriu, resolveProto } from '../src/page-server-proto.js'

/** A stand-in `criu` that prints `out` for --version and exits `code`. */
function fakeCriu(dir: string, name: string, out: string, code = 0): string {
  const p = join(dir, name)
  writeFileSync(p, `#!/bin/sh\nprintf '%s' '${out}'\nexit ${code}\n`)
  chmodSync(p, 0o755)
  return p
}

t.test('auto: 4.2 from CRIU 4.2 on, 4.1 before; an explicit choice is kept', async (t) => {
  const dir = t.testdir()
  const cases: [string, string][] = [['Version: 4.1.1\n', '4.1'], ['Version: 4.2\nGitID: v4.2\n', '4.2'], ['Version: 4.3\n', '4.2'], ['Version: 3.17\n', '4.1'], ['Version: 5.0\n', '4.2']]
  cases.forEach(([out, want], i) => t.equal(protoOfCriu(fakeCriu(dir, `criu${i}`, out)), want, out.trim()))
  const v41 = fakeCriu(dir, 'old', 'Version: 4.1.1\n')
  t.equal(resolveProto('auto', v41), '4.1')
  t.equal(resolveProto('4.2', '/nonexistent/criu'), '4.2', 'an explicit format runs nothing')
})

t.test('auto that cannot tell names the option', async (t) => {
  const dir = t.testdir()
  t.throws(() => protoOfCriu(join(dir, 'missing')), /cannot tell which page-server protocol .*missing speaks .*give --page-server-proto 4\.1 or 4\.2/)
  t.throws(() => protoOfCriu(fakeCriu(dir, 'odd', 'criu, some version\n')), /says no "Version: X\.Y".*--page-server-proto/)
  t.throws(() => protoOfCriu(fakeCriu(dir, 'fails', '', 1)), /--page-server-proto/)
})
