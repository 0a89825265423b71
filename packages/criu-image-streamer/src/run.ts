import { capture } from '@criu-pipes/img-split'
import { serve } from '@criu-pipes/img-buffer'
import { extract } from '@criu-pipes/img-join'
import { dupOf } from '@criu-pipes/streamer'
import type { StreamerOptions } from './options.js'

/** Runs the criu-pipes role behind each subcommand, with the original's default fds. */
export async function run(o: StreamerOptions): Promise<void> {
  const progressFd = o.progressFd ?? dupOf(2)
  switch (o.mode) {
    case 'capture':
      await capture({ imagesDir: o.imagesDir, shardFds: o.shardFds ?? [dupOf(1)], extFiles: o.extFiles, progressFd })
      break
    case 'serve':
      await serve({ imagesDir: o.imagesDir, shardFds: o.shardFds ?? [dupOf(0)], extFiles: o.extFiles, progressFd, tcpListenRemap: o.tcpListenRemap })
      break
    case 'extract':
      extract({ imagesDir: o.imagesDir, shardFds: o.shardFds ?? [dupOf(0)], extFiles: o.extFiles, progressFd })
      break
  }
}
