// --encrypt/--decrypt KEYFILE: 32 raw bytes. The trust model: a key another user could read is
// no secret, and one another user could write (or swap, through its directory or any above it)
// is not ours; both are refused, as is a symlink. The directory passes the same rule as every
// other (private-dir.ts; a sticky one such as /tmp is accepted, since nobody else may rename or
// remove our key there) and the key is opened through its fd.
import { closeSync, fstatSync, readSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { O_NONBLOCK, O_RDONLY, SysError, closeQuietly, openAt, openPrivateDir } from '@criu-pipes/sys'
import { KEY_BYTES } from './seal.js'

const GROUP_OTHER = 0o077
const ELOOP = 40

export class KeyFileError extends Error {
  override name = 'KeyFileError'
}

export function readKeyFile(path: string): Buffer {
  const uid = process.geteuid?.() ?? 0
  const abs = resolve(path)
  let fd: number
  let dirFd = -1
  try {
    dirFd = openPrivateDir(dirname(abs), { sticky: true })
    // O_NONBLOCK: a FIFO planted at the name (in /tmp, say) is refused below, not waited on in open.
    fd = openAt(dirFd, basename(abs), O_RDONLY | O_NONBLOCK, 0, abs)
  } catch (e) {
    throw new KeyFileError(`key file ${path}: ${e instanceof SysError && e.errno === ELOOP ? 'is a symlink' : (e as Error).message}`)
  } finally {
    if (dirFd >= 0) closeQuietly(dirFd)
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new KeyFileError(`key file ${path}: not a regular file`)
    if (st.uid !== uid && st.uid !== 0) throw new KeyFileError(`key file ${path}: owned by uid ${st.uid}, not by us`)
    if (st.mode & GROUP_OTHER) throw new KeyFileError(`key file ${path}: mode ${(st.mode & 0o777).toString(8)} lets other users read or write it (chmod 600)`)
    if (st.size !== KEY_BYTES) throw new KeyFileError(`key file ${path}: ${st.size} bytes, a key is exactly ${KEY_BYTES} (head -c 32 /dev/urandom)`)
    const key = Buffer.alloc(KEY_BYTES)
    if (readSync(fd, key, 0, KEY_BYTES, 0) !== KEY_BYTES) throw new KeyFileError(`key file ${path}: short read`)
    return key
  } finally {
    closeSync(fd)
  }
}
