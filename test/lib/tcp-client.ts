// The other end of memhog's tcp:PORT mode (test/fixtures/memhog.c): one byte out, one
// `pong <n> <npages>` line back, n counting the bytes this connection sent. The connection lives
// in the test process, outside the checkpoint, as a real client would.
import { connect, type Socket } from 'node:net'
import { waitFor } from './wait.js'
import type { Workload } from './workload.js'

export interface TcpClient {
  sock: Socket
  /** sends one byte; resolves with the answer line */
  ask(): Promise<string>
}

export async function tcpClient(port: number): Promise<TcpClient> {
  const sock = connect(port, '127.0.0.1')
  await new Promise<void>((res, rej) => { sock.once('connect', res); sock.once('error', rej) })
  let buf = ''
  const lines: string[] = []
  sock.on('data', (b: Buffer) => {
    buf += b.toString()
    for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) lines.push(buf.slice(0, i))
  })
  sock.on('error', () => {})
  const ask = async (): Promise<string> => {
    sock.write('x')
    return waitFor('a pong', () => lines.shift(), { timeoutMs: 20_000 })
  }
  return { sock, ask }
}

/** The port a tcp-mode memhog listens on (its `listening <port>` line). */
export function listeningPort(w: Workload): number {
  const m = /^listening (\d+)$/m.exec(w.log())
  if (!m) throw new Error(`the workload logged no 'listening' line:\n${w.log()}`)
  return Number(m[1])
}
