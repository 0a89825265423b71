import { createRequire } from 'node:module'
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { formatSize } from './format-size.js'
import { makeLazy } from './make-lazy.js'

const NAME = 'crit-make-lazy'
// --version: this package's own version (yargs finds no package.json from an ES module).
const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version
const USAGE = `usage: ${NAME} SRC DST`
const DESCRIPTION =
  'Write DST as `criu dump --lazy-pages` would have: SRC without its lazily restorable pages. ' +
  'DST restores only with `criu restore --lazy-pages` and a lazy-pages daemon reading SRC.'

function parse(): { src: string; dst: string } {
  const argv = yargs(hideBin(process.argv))
    .scriptName(NAME)
    .command('$0 <src> <dst>', DESCRIPTION, (y) =>
      y
        .positional('src', { type: 'string', describe: 'image directory of a plain dump (or of img-join -D)' })
        .positional('dst', { type: 'string', describe: 'new image directory; must not exist, or be empty' }),
    )
    .strict()
    .help()
    .version(VERSION)
    .fail((msg: string | undefined, err: Error | undefined) => {
      throw new Error(`${msg ?? err?.message ?? 'bad usage'} (${USAGE})`)
    })
    .parseSync()
  // The typings do not carry the default command's positionals through; check them here.
  const { src, dst } = argv
  if (typeof src !== 'string' || typeof dst !== 'string') throw new Error(`SRC and DST are required (${USAGE})`)
  return { src, dst }
}

try {
  const { src, dst } = parse()
  const r = makeLazy(src, dst)
  process.stdout.write(`${NAME}: ${formatSize(r.srcBytes)} -> ${formatSize(r.dstBytes)} (${r.lazyPages} pages left for lazy restore)\n`)
} catch (e) {
  // Every failure, usage included, is one line and exit code 1.
  const message = e instanceof Error ? e.message : String(e)
  process.stderr.write(`${NAME}: ${message.split('\n')[0] ?? ''}\n`)
  process.exitCode = 1
}
