import { remapTcpListenPorts } from '@criu-pipes/criu-image'
import { FramingError } from '@criu-pipes/framing'
import { StoredFile } from './store.js'

const FILES_IMG = 'files.img'

/** --tcp-listen-remap: patches files.img in the store before CRIU sees it. */
export function applyTcpRemap(files: Map<string, StoredFile>, remap: ReadonlyMap<number, number>): void {
  const f = files.get(FILES_IMG)
  if (!f) throw new FramingError(`--tcp-listen-remap: the image has no ${FILES_IMG}`)
  f.replace(remapTcpListenPorts(f.contents(), remap))
}
