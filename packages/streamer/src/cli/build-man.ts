// Writes packages/PKG/man/NAME.1 for every binary the packages declare in "bin", from its --help
// and the MAN text of its package (dist/src/man.js, from src/man.ts). Run by scripts/setup.sh
// after the build; scripts/install.sh installs the pages.
//   node packages/streamer/dist/src/cli/build-man.js
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { renderMan, type ManText } from './man-page.js'

const repo = resolve(fileURLToPath(import.meta.url), '../../../../../..')
const packages = join(repo, 'packages')
let written = 0
for (const pkg of readdirSync(packages)) {
  const file = join(packages, pkg, 'package.json')
  if (!existsSync(file)) continue
  const meta = JSON.parse(readFileSync(file, 'utf8')) as { version: string; bin?: Record<string, string> }
  if (!meta.bin) continue
  const texts = (await import(pathToFileURL(join(packages, pkg, 'dist', 'src', 'man.js')).href) as { MAN: Record<string, ManText> }).MAN
  for (const [name, script] of Object.entries(meta.bin)) {
    const man = texts[name]
    if (!man) throw new Error(`packages/${pkg}/src/man.ts has no MAN text for ${name}`)
    // A fixed width, so the page does not depend on the terminal the build ran in.
    const help = execFileSync(process.execPath, [join(packages, pkg, script), '--help'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '100' } })
    mkdirSync(join(packages, pkg, 'man'), { recursive: true })
    writeFileSync(join(packages, pkg, 'man', `${name}.1`), renderMan(name, meta.version, help, man))
    written++
  }
}
console.log(`man pages: ${written} written`)
