// `bash -c CMD` with the stdio you choose. Why: execa/Node child stdio "pipes" are AF_UNIX
// socketpairs, not pipes, and splice(2) between two sockets fails with EINVAL; so tests of
// the splice-based bins connect them with real pipes in a shell pipeline
// (e.g. shell(`head -c 1G /dev/zero | img-split ... | wc -c`)), or pass real pipe fds
// (numbers) as stdin. Note a numeric stdout still gets a socket from execa (it copies into
// your fd), so for a real pipe on stdout redirect inside the command instead.
import { execa, type Options } from 'execa'

/** `bash -o pipefail -c cmd`; opts are execa's (stdio, cwd, env, reject, timeout...). */
export function shell<O extends Options = Record<never, never>>(cmd: string, opts: O = {} as O) {
  return execa('bash', ['-o', 'pipefail', '-c', cmd], opts)
}
