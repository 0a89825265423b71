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

/**
 * After a restore with --tcp-established: the connection kept across the checkpoint answers with
 * its next count (`pongs` bytes sent so far, plus this one), and a new connection to `port` is
 * accepted and answered. `npages`: the workload's page count, the line's second number.
 */
export async function tcpGoesOn(
  t: { equal(found: unknown, wanted: unknown, message: string): unknown }, kept: TcpClient, port: number, npages: number, pongs: number,
): Promise<void> {
  t.equal(await kept.ask(), `pong ${pongs + 1} ${npages}`, 'the established connection goes on where it was')
  const fresh = await tcpClient(port)
  try {
    t.equal(await fresh.ask(), `pong 1 ${npages}`, 'the listening socket accepts again')
  } finally {
    fresh.sock.destroy()
  }
}
