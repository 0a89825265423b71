// The parts of `man uffd-serve` that --help has no place for (the rest is generated from the
// options in options.ts: packages/streamer/src/cli/build-man.ts).
export const MAN = {
  'uffd-serve': {
    more: [
      'It listens on WORKDIR/lazy-pages.socket (criu restore --lazy-pages must use the same -W), serves page faults at once and pushes the remaining pages in the background. If the page source is lost before every page is delivered, it kills the restored tree (--on-source-loss=kill) rather than let it read zero pages.',
      'With -d it returns once it listens and goes on detached, logging to -o or WORKDIR/uffd-serve.log.',
      'With --base DIR (a page stream from page-feed --base-index), pages the feeder sends as references are read from DIR and checked against their SHA-256 before any process gets them; a base that does not hold them is a failure like a lost source.',
    ],
    exitStatus: [
      ['0', 'every lazy page was delivered (or its process is gone)'],
      ['1', 'any error, with one line naming the problem on stderr (or in the log with -d)'],
      ['2', 'a bad command line'],
    ],
    examples: [
      ['A local lazy restore:', 'criu dump -t $PID -D $d/full\ncrit-make-lazy $d/full $d/lazy\nuffd-serve -D $d/full -W $d/work -d\ncriu restore -D $d/lazy -W $d/work --lazy-pages -d'],
      ['Pages from a CRIU page server that uffd-serve starts on a socketpair (nothing listens):', 'uffd-serve -D $d/lazy -W $d/work --page-server -d -- criu page-server -D $d/full --lazy-pages\ncriu restore -D $d/lazy -W $d/work --lazy-pages -d'],
      ['The destination of post-copy migration (see page-feed(1) for the source):', 'uffd-serve -D $r/img -W $r/work --pages-fds 0,1'],
    ],
    seeAlso: ['page-feed(1)', 'crit-make-lazy(1)', 'criu(8)'],
  },
}
