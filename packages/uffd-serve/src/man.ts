// The parts of `man uffd-serve` and `man page-feed` that --help has no place for (the rest is
// generated from the options in options.ts and feed-options.ts: packages/streamer/src/cli/build-man.ts).
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
      ['Post-copy migration, pages from the source host over ssh:', "uffd-serve -D /ck/img -W /ck/work -d --pages-from-cmd 'ssh src page-feed -D /ck --port 27000'"],
    ],
    seeAlso: ['page-feed(1)', 'crit-make-lazy(1)', 'criu(8)'],
  },
  'page-feed': {
    more: [
      'Answers each request of uffd-serve first, then pushes every other lazy page once, within the window uffd-serve grants. If the channel breaks, it resets the page-server session: the dump resumes the original process, and nothing is lost.',
      'With --base-index IDX (the index img-split --index-out wrote for a round the destination keeps as its base), each page the base holds goes as a reference (its SHA-256) instead of its bytes; uffd-serve --base reads it from there.',
    ],
    exitStatus: [
      ['0', 'every page was delivered and the dump was told so'],
      ['1', 'any error, with one line naming the problem'],
      ['2', 'a bad command line'],
    ],
    examples: [
      ['The source side of post-copy migration, the destination reached by ssh:', "page-feed -D /ck --port 27000 --via-cmd \"ssh dst 'uffd-serve -D /ck/img -W /ck/work --pages-fds 0,1'\""],
    ],
    seeAlso: ['uffd-serve(1)', 'criu(8)'],
  },
}
