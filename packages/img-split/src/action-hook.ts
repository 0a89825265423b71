// img-split doubles as a CRIU action script (`criu dump --stream --action-script
// "$(command -v img-split)"`): CRIU runs it with no arguments and CRTOOLS_SCRIPT_ACTION set.
// At post-dump it waits until the capture has moved every byte out, and fails the dump if the
// capture failed, so the dumped process is resumed instead of killed. Other actions pass (main.ts
// answers them before loading anything).
import { closeQuietly, connectUnixAt, openPrivateDir, readFull } from '@criu-pipes/sys'
import { SYNC_SOCKET } from './sync-socket.js'

export function runActionHook(env: NodeJS.ProcessEnv): number {
  if (env.CRTOOLS_SCRIPT_ACTION !== 'post-dump') return 0
  const dir = env.CRTOOLS_IMAGE_DIR
  if (!dir) throw new Error('post-dump hook: CRTOOLS_IMAGE_DIR is not set')
  // Only an answer from a directory nobody else controls counts: a planted socket could say ok.
  const dirFd = openPrivateDir(dir)
  let fd: number
  try {
    fd = connectUnixAt(dirFd, SYNC_SOCKET)
  } catch (e) {
    throw new Error(`post-dump hook: no img-split is capturing this dump (${(e as Error).message}): failing the dump so the process keeps running`)
  } finally {
    closeQuietly(dirFd)
  }
  const reply = Buffer.alloc(3)
  const n = readFull(fd, reply)
  closeQuietly(fd)
  if (n === 3 && reply.toString() === 'ok\n') return 0
  throw new Error('post-dump hook: the capture failed before every byte was out: failing the dump so the process keeps running')
}
