// When a capture is complete, and when it is a failure that must not look like a success.
//
// What CRIU 4.1 does at the end of `criu dump --stream` (cr_dump_finish in criu/cr-dump.c, and
// checked by logging every request, pipe EOF and hook call against a real dump): inventory.img is
// its last image; every image pipe is closed; THEN it runs the post-dump scripts; then it kills
// (or resumes) the tasks, closes the streamer socket (close_image_dir) and writes stats-dump,
// which is O_FORCE_LOCAL: a plain file in the images dir, never streamed. So once the hook runs,
// nothing more will come through the socket: the image can be ended right then, and the hook
// answered once every shard's consumer holds all of it.
import { FramingError } from '@criu-pipes/framing'
import type { ShardSink } from './shard-sink.js'

// cpuinfo.img (only with --cpu-cap=image) is written before the tasks are frozen; any other
// request means the application is frozen: the moment to print checkpoint-start.
export const PRE_FREEZE_FILE = 'cpuinfo.img'
// CRIU writes inventory.img last, after every other image.
export const LAST_IMAGE = 'inventory.img'

/**
 * A dump that ends without inventory.img failed; one that sent no image at all (or only the
 * pre-freeze cpuinfo.img) failed before it started. Finishing the stream anyway would hand a
 * broken image downstream as a good one: refuse, and leave the stream without image_eof.
 */
export function checkDumpSent(seen: ReadonlySet<string>, extNames: ReadonlySet<string>): void {
  if (seen.has(LAST_IMAGE)) return
  const images = [...seen].filter(n => n !== PRE_FREEZE_FILE && !extNames.has(n))
  if (images.length === 0) {
    const only = seen.has(PRE_FREEZE_FILE) ? ` but ${PRE_FREEZE_FILE}` : ''
    throw new FramingError(`CRIU sent no image${only}: the dump failed; the stream is left unfinished`)
  }
  throw new FramingError(`CRIU closed the connection without sending ${LAST_IMAGE}: the dump failed; the stream is left unfinished`)
}

/** True once every shard's consumer holds the whole stream; throws the first shard that cannot. */
export function shardsDone(sinks: readonly ShardSink[]): boolean {
  checkShards(sinks)
  return sinks.every(s => s.drained())
}

/** Throws the first shard that can no longer reach its consumer. */
export function checkShards(sinks: readonly ShardSink[]): void {
  for (const s of sinks) {
    const why = s.failed()
    if (why) throw new FramingError(why)
  }
}
