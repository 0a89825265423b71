// The hybrid's lazy final round, destination side: the pages a PAGE_REF names, read from the base
// (uffd-serve --base DIR: the checkpoint of the last pre-copy round, as img-join -D extracted it)
// and checked page by page against the SHA-256 the feeder sent, before anything is copied into a
// process. A base that does not hold them (the wrong base, a page changed on disk, a file missing
// or too short) is refused: a daemon failure, so fail-stop kills the restored tree and the source
// dump resumes the original. framing's BaseDir opens the files (the trust rule: through the
// directory's fd, no symbolic links, regular files nobody else may write).
import { BaseDir, CONTENT_CHUNK, REF_HASH_BYTES } from '@criu-pipes/framing'
import type { PageRef } from '@criu-pipes/framing'
import { SHA256_BYTES, preadFull, sha256Into } from '@criu-pipes/sys'
import type { CheckedDir } from '@criu-pipes/sys'

/** The base does not hold what a reference names. */
export class BaseRefError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'BaseRefError'
  }
}

export class BasePages {
  private readonly dir: BaseDir
  private readonly digest = Buffer.alloc(SHA256_BYTES)

  /** `base`: the directory, opened and checked by the caller (openPrivateDir), who closes its fd. */
  constructor(base: CheckedDir) {
    this.dir = new BaseDir(base.path, base.fd)
  }

  /**
   * Reads pages `from`..`from + out.length / 4096` of `ref` (counted from its first page) into
   * `out`, each checked against its hash in the reference. Throws BaseRefError.
   */
  read(ref: PageRef, from: number, out: Buffer): void {
    const pages = out.length / CONTENT_CHUNK
    const first = ref.filePage + from
    let fd: number
    try {
      fd = this.dir.fd(ref.file)
    } catch (e) {
      throw new BaseRefError(`${(e as Error).message}: the base does not hold the pages the feeder refers to`)
    }
    const got = preadFull(fd, out, first * CONTENT_CHUNK)
    if (got < out.length) {
      throw new BaseRefError(`base file ${this.dir.dir}/${ref.file} ends before its page ${first + Math.floor(got / CONTENT_CHUNK)}: not the base the feeder's --base-index describes`)
    }
    for (let i = 0; i < pages; i++) {
      sha256Into(out.subarray(i * CONTENT_CHUNK, (i + 1) * CONTENT_CHUNK), this.digest)
      const at = (from + i) * REF_HASH_BYTES
      if (!this.digest.equals(ref.hashes.subarray(at, at + REF_HASH_BYTES))) {
        throw new BaseRefError(`base file ${this.dir.dir}/${ref.file} page ${first + i} is not the page the feeder refers to: ` +
          'a wrong base, or one changed since it was received; refused before any process got it')
      }
    }
  }

  /** Closes the files opened; the directory's fd stays its owner's. */
  close(): void {
    this.dir.close()
  }
}
