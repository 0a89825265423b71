// The small set of end-to-end tests that also runs against CRIU 4.1.1 (Debian 13's), so that
// both it and the newest release (what .criu/bin/criu is, see scripts/install-criu.sh) stay
// supported: streaming through img-split/img-buffer, lazy restore with uffd-serve (local, and
// from CRIU's page server, protocol 4.1), and post-copy over page-feed. Each test file runs as
// a child with $CRIU set to .criu/4.1.1/bin/criu and TAP_GREP picking the tests.
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { criuRelease } from '../lib/index.js'

const RELEASE = '4.1.1'
const here = fileURLToPath(new URL('.', import.meta.url))
const SUBSET: [file: string, tests: RegExp][] = [
  ['streaming.test.js', /^3 shards live from img-split into img-buffer/],
  ['lazy.test.js', /^(local: made-lazy DST restored|remote: criu page-server --lazy-pages serves SRC|post-copy: criu dump --lazy-pages)/],
  ['postcopy.test.js', /^post-copy through page-feed over a pipe pair$/],
]

const criu = criuRelease(RELEASE)
if (!existsSync(criu)) {
  const why = `no CRIU ${RELEASE} at ${criu}: run scripts/install-criu.sh --version ${RELEASE}`
  if (process.env.CI === 'true') t.fail(why)
  else t.plan(0, why)
} else {
  for (const [file, tests] of SUBSET) {
    t.spawn(process.execPath, [join(here, file)], {
      env: { ...process.env, CRIU: criu, TAP_GREP: tests.source },
    }, `${file} on CRIU ${RELEASE}: ${tests.source}`)
  }
}
