// The parts of `man criu-image-streamer` that --help has no place for (the rest is generated
// from its options: packages/streamer/src/cli/build-man.ts).
export const MAN = {
  'criu-image-streamer': {
    more: [
      'The command line of criu-image-streamer (capture, serve, extract) over img-split, img-buffer and img-join, with the original\'s options and defaults, so that zdtm.py --stream and existing scripts run unchanged. Unlike the original, runtime errors exit non-zero.',
    ],
    exitStatus: [
      ['0', 'success'],
      ['1', 'any error, with one line on stderr'],
      ['2', 'a bad command line'],
    ],
    examples: [
      ['Capture to stdout, as zdtm does:', 'criu-image-streamer --images-dir $d/ck capture > $d/shard'],
    ],
    seeAlso: ['img-split(1)', 'img-buffer(1)', 'img-join(1)', 'criu(8)'],
  },
}
