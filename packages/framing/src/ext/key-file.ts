// --encrypt/--decrypt KEYFILE: 32 raw bytes. The trust model: a key another user could read is
// no secret, and one another user could write (or swap, through the directory) is not ours; both
// are refused, as is a symlink.
import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { KEY_BYTES } from './seal.js'

const GROUP_OTHER = 0o077
const GROUP_OTHER_WRITE = 0o022
const STICKY = 0o1000

export class KeyFileError extends Error {
  override name = 'KeyFileError'
}

export function readKeyFile(path: string): Buffer {
  const uid = process.geteuid?.() ?? 0
  const dir = statSync(dirname(resolve(path)))
  if ((dir.mode & GROUP_OTHER_WRITE) && !(dir.mode & STICKY)) {
    throw new KeyFileError(`key file ${path}: its directory is writable by other users`)
  }
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (e) {
    throw new KeyFileError(`key file ${path}: ${(e as NodeJS.ErrnoException).code === 'ELOOP' ? 'is a symlink' : (e as Error).message}`)
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
