// page-feed's command line: the dump it runs, and what it must not let that dump do (listen).
import t from 'tap'
import { DEFAULT_VERBOSITY } from '@criu-pipes/lazy-pages'
import { parseFeedOptions } from '../src/index.js'

const CWD = '/srv/run'

t.test('page-feed', async (t) => {
  const dump = ['criu', 'dump', '-t', '42', '-D', 'dump', '--lazy-pages', '-v4']
  const o = parseFeedOptions(['-D', 'dump', '--max-rate', '8', '--via-cmd', 'ssh dst x', '--', ...dump], CWD)
  t.same(o, { imagesDir: '/srv/run/dump', dump, proto: 'auto', maxRate: 8 << 20,
    logFile: undefined, verbosity: DEFAULT_VERBOSITY, viaCmd: 'ssh dst x', baseIndex: undefined }, 'the dump\'s -v4 is the dump\'s')
  t.equal(parseFeedOptions(['-D', 'dump', '--base-index', 'r1.idx', '--', ...dump], CWD).baseIndex, '/srv/run/r1.idx')
  t.throws(() => parseFeedOptions(['-D', 'dump'], CWD), /page-feed needs a CRIU command after --/)
  t.throws(() => parseFeedOptions(['-D', 'dump', '--port', '1', '--', ...dump], CWD), /Unknown argument: port/, 'no port: nothing listens')
  t.throws(() => parseFeedOptions(['-D', 'dump', '--', 'criu', 'dump', '-t', '1'], CWD), /must have --lazy-pages/)
  for (const bad of ['--port', '--address=0.0.0.0', '--ps-socket', '--status-fd', '-d']) {
    t.throws(() => parseFeedOptions(['-D', 'dump', '--', ...dump, bad], CWD), /may not have --?[a-z-]+ \(its page server gets a socketpair from us: nothing listens\)/, bad)
  }
  t.throws(() => parseFeedOptions(['-D', 'dump', '--max-rate', '-1', '--', ...dump], CWD), /--max-rate must be/)
  t.throws(() => parseFeedOptions(['-D', 'dump', 'extra', '--', ...dump], CWD), /Unknown argument/)
})
