// Man pages from the same definitions as --help: the options, their types and defaults come from
// the binary's own `--help` (yargs renders it from the option table in its options.ts), and the
// parts yargs has no place for (exit status, examples, see also) from the MAN text kept next to
// those options (packages/*/src/man.ts). One source: a new option shows up in both.

/** What a binary's man.ts says beyond --help. */
export interface ManText {
  /** Paragraphs after --help's description. */
  more?: readonly string[]
  exitStatus: readonly (readonly [code: string, meaning: string])[]
  examples: readonly (readonly [what: string, command: string])[]
  seeAlso: readonly string[]
}

interface HelpOption { flags: string; description: string; tags: string[] }
interface Help { usage: string; description: string; sections: { title: string; options: HelpOption[] }[] }

/** yargs's trailing tags: [string] [required] [default: x] [choices: ...]. */
const TAG = /\s*\[(string|number|boolean|array|count|required|default: [^\]]*|choices: [^\]]*)\]\s*$/

/** Parses yargs's --help output (wrapped at any width). */
export function parseHelp(text: string): Help {
  const blocks = text.replace(/\n+$/, '').split('\n\n')
  const usage = (blocks.shift() ?? '').split('\n').map((l) => l.trim()).join(' ')
  const description: string[] = []
  const sections: Help['sections'] = []
  for (const block of blocks) {
    const lines = block.split('\n')
    const title = /^(\w[\w ]*):$/.exec(lines[0]!)?.[1]
    if (title === undefined) { description.push(lines.map((l) => l.trim()).join(' ')); continue }
    const options: HelpOption[] = []
    for (const line of lines.slice(1)) {
      const indent = line.length - line.trimStart().length
      // A new entry starts near the left edge; anything further in continues the one before.
      if (indent <= 6 && line.trim() !== '' && !line.trim().startsWith('[')) {
        const m = /^\s*(\S.*?)(?:\s{2,}(.*))?$/.exec(line)!
        options.push({ flags: m[1]!, description: m[2] ?? '', tags: [] })
      } else if (options.length > 0) {
        options.at(-1)!.description += ` ${line.trim()}`
      }
    }
    for (const o of options) {
      let d = o.description.trim()
      let m: RegExpExecArray | null
      while ((m = TAG.exec(d))) { o.tags.unshift(m[1]!); d = d.slice(0, m.index) }
      o.description = d.replace(/\s+/g, ' ')
    }
    sections.push({ title, options })
  }
  return { usage, description: description.join('\n\n'), sections }
}

/** Text for roff: backslashes doubled, a line never starting with a control character. */
function roff(text: string): string {
  return text.replace(/\\/g, '\\e').replace(/-/g, '\\-').split('\n').map((l) => (/^[.']/.test(l) ? `\\&${l}` : l)).join('\n')
}

/** The page, in man(7) macros. */
export function renderMan(name: string, version: string, help: string, man: ManText): string {
  const h = parseHelp(help)
  const synopsis = h.usage.replace(/^\S+\s*/, '')
  const out = [
    `.TH ${name.toUpperCase()} 1 "" "criu-pipes ${version}" "criu-pipes"`,
    '.SH NAME',
    `${roff(name)} \\- ${roff(h.description.split(/(?<=\.)\s|:\s/)[0]!.replace(/\.$/, ''))}`,
    '.SH SYNOPSIS',
    `.B ${roff(name)}`,
    roff(synopsis),
    '.SH DESCRIPTION',
    ...[h.description, ...(man.more ?? [])].flatMap((p) => ['.PP', roff(p)]),
  ]
  for (const s of h.sections) {
    out.push(`.SH ${s.title.toUpperCase()}`)
    for (const o of s.options) {
      out.push('.TP', `.B ${roff(o.flags)}`, roff([o.description, ...o.tags.filter((t) => t !== 'boolean').map((t) => `[${t}]`)].join(' ').trim()))
    }
  }
  out.push('.SH EXIT STATUS')
  for (const [code, meaning] of man.exitStatus) out.push('.TP', `.B ${roff(code)}`, roff(meaning))
  out.push('.SH EXAMPLES')
  for (const [what, command] of man.examples) out.push('.PP', roff(what), '.PP', '.nf', '.RS 4', roff(command), '.RE', '.fi')
  out.push('.SH SEE ALSO', man.seeAlso.map((s) => `.BR ${s.replace(/\((\d)\)$/, ' ($1)')}`).join(',\n'))
  return `${out.join('\n')}\n`
}
