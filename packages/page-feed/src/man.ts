// The parts of `man page-feed` that --help has no place for (the rest is generated from the
// options in options.ts: packages/streamer/src/cli/build-man.ts).
export const MAN = {
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
      ['The source side of post-copy migration, the destination reached by ssh (README.md has the whole recipe, images included):',
        "page-feed -D $d --via-cmd \"ssh dst 'uffd-serve -D $r/img -W $r/work --pages-fds 0,1'\" -- criu dump -t $PID -D $d --lazy-pages"],
    ],
    seeAlso: ['uffd-serve(1)', 'criu(8)'],
  },
}
