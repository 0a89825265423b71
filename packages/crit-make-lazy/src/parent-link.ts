import { isAbsolute, resolve } from 'node:path'

/**
 * The text for DST's `parent` link. CRIU writes it relative (e.g. "../1"); it is kept as is when
 * it points to the same place from DST as from SRC, and made absolute otherwise, so that the
 * made-lazy dump still finds its parent images wherever DST was put.
 */
export function parentLinkTarget(src: string, dst: string, link: string): string {
  if (isAbsolute(link)) return link
  const fromSrc = resolve(src, link)
  return resolve(dst, link) === fromSrc ? link : fromSrc
}
