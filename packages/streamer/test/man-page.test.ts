// Man pages from --help: every option --help lists is on the page with its tags, wrapped lines
// joined, roff's control characters escaped; every binary has its MAN text.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseHelp, renderMan, type ManText } from '../src/cli/man-page.js'

const HELP = `x -D DIR [-s FD]

Does a thing: at once.

Options:
  -D, --images-dir  the directory                                       [string] [required]
      --long        a description that wraps onto
                    a second line [default: 3]                                     [number]
      --alone       a description long enough that its tags go on their own line
                                                                                   [string]
`
const MAN: ManText = { exitStatus: [['0', 'ok']], examples: [['Run it:', '.x -D d']], seeAlso: ['criu(8)'] }

t.test('parseHelp joins wrapped lines and takes the tags off', async t => {
  const h = parseHelp(HELP)
  t.equal(h.usage, 'x -D DIR [-s FD]')
  t.equal(h.description, 'Does a thing: at once.')
  t.same(h.sections[0]!.options, [
    { flags: '-D, --images-dir', description: 'the directory', tags: ['string', 'required'] },
    { flags: '--long', description: 'a description that wraps onto a second line', tags: ['default: 3', 'number'] },
    { flags: '--alone', description: 'a description long enough that its tags go on their own line', tags: ['string'] },
  ])
})

t.test('renderMan: sections, escapes', async t => {
  const page = renderMan('x', '1.0', HELP, MAN)
  t.match(page, /^\.TH X 1 "" "criu-pipes 1\.0"/)
  t.match(page, /\.SH NAME\nx \\- Does a thing\n/)
  t.match(page, /\.B \\-\\-long\na description that wraps onto a second line \[default: 3\] \[number\]/)
  t.match(page, /\.SH EXIT STATUS\n\.TP\n\.B 0\nok/)
  t.match(page, /\\&\.x \\-D d/, 'a line starting with a dot is escaped')
  t.match(page, /\.BR criu \(8\)/)
})

t.test('every binary: a MAN text, and every option of its --help on its page', async t => {
  const packages = resolve(fileURLToPath(import.meta.url), '../../../..')
  for (const pkg of readdirSync(packages)) {
    const file = join(packages, pkg, 'package.json')
    if (!existsSync(file)) continue
    const meta = JSON.parse(readFileSync(file, 'utf8')) as { version: string; bin?: Record<string, string> }
    for (const [name, script] of Object.entries(meta.bin ?? {})) {
      const { MAN: texts } = await import(pathToFileURL(join(packages, pkg, 'dist', 'src', 'man.js')).href) as { MAN: Record<string, ManText> }
      t.ok(texts[name], `${name} has its MAN text`)
      const help = execFileSync(process.execPath, [join(packages, pkg, script), '--help'], { encoding: 'utf8' })
      const page = renderMan(name, meta.version, help, texts[name]!)
      const options = [...help.matchAll(/^\s+(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]!)
      t.ok(options.length > 1, `${name}: options found in --help`)
      for (const o of options) t.ok(page.includes(`.B ${o.replace(/-/g, '\\-')}`) || page.includes(`, ${o.replace(/-/g, '\\-')}`), `${name}: ${o} is on the page`)
    }
  }
})
