// The parts of `man img-buffer` that --help has no place for (the rest is generated from the
// options in options.ts: packages/streamer/src/cli/build-man.ts).
export const MAN = {
  'img-buffer': {
    more: [
      'The whole stream is read and checked before the socket is bound: a truncated or damaged stream, or a failed --filter, is refused with one line and criu restore never starts. Each file is freed as CRIU takes it. A shard given as a regular file is served from the page cache without a copy; it must stay unchanged until the restore has finished.',
      'With -d, img-buffer returns once it listens (after the whole stream was read) and goes on detached; its stderr and progress lines are in DIR/img-buffer.log.',
    ],
    exitStatus: [
      ['0', 'CRIU took the image'],
      ['1', 'any error, with one line on stderr: `img-buffer: what is wrong` (with -d before it listens: `img-buffer: the daemon did not start: ...`); CRIU_PIPES_DEBUG=1 adds a stack trace'],
      ['2', 'a bad command line'],
    ],
    examples: [
      ['Restore from two shard files:', 'img-buffer -D $d/rs -s 3,4 -d 3<$d/shard0 4<$d/shard1\ncriu restore -D $d/rs --stream -d'],
      ['Restore from an object store, one download per shard:', "img-buffer -D $d/rs -d -n 4 --filter 'aws s3 cp s3://bucket/ck/$SHARD -'"],
    ],
    seeAlso: ['img-split(1)', 'img-join(1)', 'criu(8)'],
  },
}
