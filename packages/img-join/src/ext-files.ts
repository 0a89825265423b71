// External files named with -e leave the stream through their own fd (e.g. into `tar x`) instead
// of the merged stream or the directory. They are never buffered.
import { closeQuietly } from '@criu-pipes/sys'
import type { ExtFile } from '@criu-pipes/streamer'

export class ExtOutputs {
  private readonly byName: Map<string, number>

  constructor(ext: readonly ExtFile[]) {
    this.byName = new Map(ext.map(e => [e.name, e.fd]))
  }

  fdFor(name: string): number | undefined { return this.byName.get(name) }

  /** The consumer sees EOF as soon as its file is complete. */
  finish(name: string): void {
    const fd = this.byName.get(name)
    if (fd === undefined) return
    closeQuietly(fd)
    this.byName.delete(name)
  }

  /** Files named on the command line but absent from the image just get EOF. */
  finishAll(): void {
    for (const name of [...this.byName.keys()]) this.finish(name)
  }
}
