// A shard given as a regular file (`3</data/shard0`). Its payloads are already in the page cache
// (or on their way there): copying them into our memory would only cost CPU and a second copy of
// the image. The drain reads the markers as usual but seeks over each payload, noting where it
// lies; when CRIU asks for the file, the bytes are spliced from the page cache into its pipe.
import { POSIX_FADV_SEQUENTIAL, POSIX_FADV_WILLNEED, SEEK_CUR, SEEK_SET, fadvise, fileSize, lseek } from '@criu-pipes/sys'

export class FileShard {
  private size: number

  constructor(readonly fd: number) {
    this.size = fileSize(fd)
    const here = lseek(fd, 0, SEEK_CUR)
    // Read ahead the rest of the file now, in large windows, so the pages are in memory when CRIU
    // asks for them. Only a hint: a filesystem that ignores it (tmpfs) loses nothing.
    try {
      fadvise(fd, here, 0, POSIX_FADV_SEQUENTIAL)
      fadvise(fd, here, 0, POSIX_FADV_WILLNEED)
    } catch { /* advice is optional */ }
  }

  /**
   * Seeks over a `length`-byte payload that starts at the fd's offset. Returns where it starts and
   * how many of its bytes the file really holds: fewer means the shard is truncated, which the
   * caller reports just as for a payload read short from a pipe.
   */
  skip(length: number): { position: number; available: number } {
    const end = lseek(this.fd, length, SEEK_CUR)
    const position = end - length
    // A file still being written may have grown since we looked; look again before calling it short.
    if (end > this.size) this.size = fileSize(this.fd)
    const available = Math.max(0, Math.min(length, this.size - position))
    // Seeking past the end is allowed; put the offset back where the data really ends.
    if (available < length) lseek(this.fd, position + available, SEEK_SET)
    return { position, available }
  }
}
