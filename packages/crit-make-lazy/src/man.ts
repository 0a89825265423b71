// The parts of `man crit-make-lazy` that --help has no place for (the rest is generated from the
// options in main.ts: packages/streamer/src/cli/build-man.ts).
export const MAN = {
  'crit-make-lazy': {
    more: [
      'Every file of SRC is copied except the pagemaps and pages files, whose private anonymous pages are flagged lazy and left out. DST is built under a temporary name and renamed, so a failure leaves no half-written DST. It prints the sizes, e.g. `crit-make-lazy: 1.07 GB -> 116 KB`.',
    ],
    exitStatus: [
      ['0', 'DST was written'],
      ['1', 'any error, with one line on stderr: `crit-make-lazy: what is wrong`'],
      ['2', 'a bad command line'],
    ],
    examples: [
      ['A checkpoint made lazy, then restored with its pages served from the full one:', 'crit-make-lazy $d/full $d/lazy\nuffd-serve -D $d/full -W $d/work -d\ncriu restore -D $d/lazy -W $d/work --lazy-pages -d'],
    ],
    seeAlso: ['uffd-serve(1)', 'criu(8)'],
  },
}
