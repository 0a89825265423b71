import { FramingError } from './errors.js'

/**
 * Image file names are bare names (`pages-1.img`, `fs.tar`). Anything that could name a path
 * outside the images directory, or that C code would cut short, is refused.
 */
export function checkFileName(name: string): string {
  const why =
    name.length === 0 ? 'is empty'
    : name.includes('\0') ? 'contains a NUL byte'
    : name.startsWith('/') ? 'is absolute'
    : name.includes('/') ? 'contains "/"'
    : name === '.' || name === '..' || name.includes('..') ? 'contains ".."'
    : null
  if (why) throw new FramingError(`bad image file name ${JSON.stringify(name)}: it ${why}`)
  return name
}
