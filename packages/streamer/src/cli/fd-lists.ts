// Parsing of the fd options every streaming binary takes: `-s 3,4,5` and `-e fs.tar:20,log:21`.
import { checkFileName } from '@criu-pipes/framing'
import { UsageError } from './usage-error.js'

export function parseFdList(value: string, option: string): number[] {
  return value.split(',').map(part => parseFd(part.trim(), option))
}

export function parseFd(text: string, option: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${option}: "${text}" is not an fd number`)
  return Number(text)
}

export interface ExtFile { name: string; fd: number }

export function parseExtFiles(value: string, option: string): ExtFile[] {
  return value.split(',').map(part => {
    const i = part.lastIndexOf(':')
    if (i <= 0) throw new UsageError(`${option}: "${part}" is not NAME:FD`)
    let name: string
    try { name = checkFileName(part.slice(0, i)) } catch (e) { throw new UsageError(`${option}: ${(e as Error).message}`) }
    return { name, fd: parseFd(part.slice(i + 1), option) }
  })
}

export interface PortRemap { from: number; to: number }

export function parsePortRemaps(value: string, option: string): Map<number, number> {
  const map = new Map<number, number>()
  for (const part of value.split(',')) {
    const m = /^(\d+):(\d+)$/.exec(part.trim())
    const from = Number(m?.[1]), to = Number(m?.[2])
    if (!m || from < 1 || from > 65535 || to < 1 || to > 65535) throw new UsageError(`${option}: "${part}" is not OLD_PORT:NEW_PORT`)
    if (map.has(from)) throw new UsageError(`${option}: port ${from} given twice`)
    map.set(from, to)
  }
  return map
}
