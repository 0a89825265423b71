// The parts of `man img-migrate` that --help has no place for (the rest is generated from the
// options in options.ts: packages/streamer/src/cli/build-man.ts).
export const MAN = {
  'img-migrate': {
    more: [
      'Everything goes over the one channel, the stdin and stdout of `sh -c CMD`: control messages, every round\'s image, the verdict; nothing listens on a port. Each round is img-split\'s capture beside `criu dump --stream`; the destination extracts a pre-copy round as its base (like img-join -D) and serves the final one to `criu restore --stream -d` (like img-buffer), both with --base; a lazy final round (postcopy, hybrid) is `criu dump --lazy-pages` with page-feed\'s page stream on the channel, restored by uffd-serve\'s daemon beside `criu restore --lazy-pages -d`. --mode auto (the default) takes postcopy wherever CRIU\'s lazy page server can run (fs.pipe-max-size >= 4 MiB, no --encrypt), else precopy or full by how fast the memory changes, measured before any round. criu must be on PATH on both sides.',
      'A failure before the destination holds the final image (the channel cut, a full disk, a damaged stream, an image it cannot restore) leaves the process running at the source; after that the process is the destination\'s, restored once the source has released it (dumped, killed, reaped), and a failed restore is reported, fail-stop. A lazy final round keeps the process frozen at the source until every page is at the destination; any other end resumes it there and kills the copy. The destination works in a directory of its own under -W, removed at the end.',
    ],
    exitStatus: [
      ['0', 'the process runs at the destination'],
      ['1', 'any error, one line per side: `img-migrate: source: PHASE: what is wrong` (PHASE: hello, measuring, round N (pre-copy), round N (final), round N (restore), round N (lazy), round N (lazy restore)); CRIU_PIPES_DEBUG=1 adds a stack trace'],
      ['2', 'a bad command line'],
    ],
    examples: [
      ['Pre-copy migration over ssh, the summary on fd 3:', "img-migrate -t $PID --to 'ssh dst img-migrate --receive -W /var/lib/ck' -p 3 3>summary.json"],
    ],
    seeAlso: ['img-split(1)', 'img-join(1)', 'img-buffer(1)', 'criu(8)'],
  },
}
