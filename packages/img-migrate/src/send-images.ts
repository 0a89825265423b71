// The images a lazy dump wrote into its directory (everything but the lazy memory: small), sent
// as one image on the channel, a single shard up to its image_eof, the way a streamed round's
// image goes; the destination extracts it with img-join's extract. No tar: the same framing, the
// same file-name checks at the other end.
import { O_RDONLY, S_IFREG, closeQuietly, listAt, openAt, statAt } from '@criu-pipes/sys'
import { ShardWriter } from '@criu-pipes/framing'

/** CRIU's image files; its log (dump.log) and anything else it leaves there stay here. */
const IMAGE_SUFFIX = '.img'

/** Sends every image file of `dirFd` (a checked directory) to `writeFd`; the bytes written. */
export function sendImages(dirFd: number, label: string, writeFd: number): number {
  const writer = new ShardWriter([writeFd])
  const names = listAt(dirFd).map(e => e.name).filter(n => n.endsWith(IMAGE_SUFFIX)).sort()
  for (const name of names) {
    const st = statAt(dirFd, name)
    if (st?.type !== S_IFREG) throw new Error(`${label}/${name}: not a regular file`)
    const fd = openAt(dirFd, name, O_RDONLY, 0, `${label}/${name}`)
    try {
      // An empty file is an image too (CRIU restores from its presence): endFile names it all the same.
      if (st.size > 0) writer.spliceFrom(name, fd, st.size)
      writer.endFile(name)
    } finally {
      closeQuietly(fd)
    }
  }
  writer.endImage()
  return writer.sizes()[0]!
}
