// The parts of `man img-split` that --help has no place for (the rest is generated from the
// options in options.ts: packages/streamer/src/cli/build-man.ts).
export const MAN = {
  'img-split': {
    more: [
      'Each burst of data goes to the shard whose pipe has the most free room, so a slow consumer gets less. Shards may be pipes (zero copy with splice), regular files, /dev/null or sockets. Any error makes img-split exit 1 at once; given to criu dump as its --action-script, it answers the post-dump hook only once every shard holds the whole image (and every --filter exited 0), so a failed transfer fails the dump and the process keeps running.',
      'With -d, img-split returns once CRIU can connect and goes on detached; its stderr and progress lines are in DIR/img-split.log.',
    ],
    exitStatus: [
      ['0', 'the image was captured and every shard holds it'],
      ['1', 'any error, with one line on stderr: `img-split: what is wrong` (with -d before it listens: `img-split: the daemon did not start: ...`); CRIU_PIPES_DEBUG=1 adds a stack trace'],
      ['2', 'a bad command line'],
    ],
    examples: [
      ['A checkpoint into two shard files:', 'd=$(mktemp -d)\nimg-split -D $d/ck -s 3,4 -d 3>$d/shard0 4>$d/shard1\ncriu dump -t $PID -D $d/ck --stream --action-script "$(command -v img-split)"'],
      ['Four parallel uploads to an object store, one per shard:', "img-split -D $d/ck -d -n 4 --filter 'aws s3 cp - s3://bucket/ck/$SHARD'"],
    ],
    seeAlso: ['img-buffer(1)', 'img-join(1)', 'criu(8)'],
  },
}
