// The parts of `man img-join` that --help has no place for (the rest is generated from the
// options in options.ts: packages/streamer/src/cli/build-man.ts).
export const MAN = {
  'img-join': {
    more: [
      'With -D DIR the files are written into DIR/.img-join.partial and moved into DIR only once the whole stream was read and checked; a DIR that already holds *.img files is refused, and nothing is ever replaced.',
    ],
    exitStatus: [
      ['0', 'the stream was merged, or every file extracted'],
      ['1', 'any error, with one line on stderr: `img-join: what is wrong` (CRIU_PIPES_DEBUG=1 adds a stack trace)'],
      ['2', 'a bad command line'],
    ],
    examples: [
      ['Extract two shards into a directory for a plain criu restore:', 'img-join -D $d/img -s 3,4 3<$d/shard0 4<$d/shard1\ncriu restore -D $d/img -d'],
      ['Merge an encrypted stream into a plain one that criu-image-streamer can serve:', 'img-join --decrypt key < s.enc > s.plain'],
    ],
    seeAlso: ['img-split(1)', 'img-buffer(1)', 'criu(8)'],
  },
}
