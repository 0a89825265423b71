// The command lines CRIU's tools and zdtm pass to `criu lazy-pages`.
import t from 'tap'
import { DEFAULT_VERBOSITY, takeVerbosity } from '@criu-pipes/lazy-pages'
import { UsageError, daemonArgs, parseOptions } from '../src/index.js'

const CWD = '/srv/run'

t.test('zdtm --lazy-pages', async (t) => {
  const o = parseOptions(['lazy-pages', '--no-default-config', '--log-file', 'lazy-pages.log', '--images-dir',
    'dump/zdtm/static/maps00/55/1', '--verbosity=4', '--status-fd', '4'], CWD)
  t.equal(o.imagesDir, '/srv/run/dump/zdtm/static/maps00/55/1')
  t.equal(o.workDir, o.imagesDir, 'work dir defaults to the images dir')
  t.equal(o.logFile, `${o.imagesDir}/lazy-pages.log`, 'relative log files go in the work dir')
  t.equal(o.verbosity, 4)
  t.equal(o.statusFd, 4)
  t.equal(o.pageServer, undefined)
  t.equal(o.daemon, false)
  t.same(o.warnings, [])
})

t.test('zdtm --remote-lazy-pages', async (t) => {
  const o = parseOptions(['lazy-pages', '-D', '/d', '--page-server', '--port', '12345', '--address', '127.0.0.1'], CWD)
  t.same(o.pageServer, { address: '127.0.0.1', port: 12345, proto: 'auto' })
  const o2 = parseOptions(['-D', '/d', '--page-server', '--port=1', '--page-server-proto', '4.2'], CWD)
  t.same(o2.pageServer, { address: '127.0.0.1', port: 1, proto: '4.2' }, 'loopback by default')
})

t.test('short options, -W, pidfile, daemon', async (t) => {
  const o = parseOptions(['-D', 'img', '-W', '/w', '-o', '/abs.log', '-d', '--pidfile', 'p.pid'], CWD)
  t.equal(o.imagesDir, '/srv/run/img')
  t.equal(o.workDir, '/w')
  t.equal(o.logFile, '/abs.log')
  t.equal(o.pidfile, '/w/p.pid')
  t.equal(o.daemon, true)
})

t.test('verbosity in all of CRIU\'s spellings', async (t) => {
  const v = (...a: string[]): number => parseOptions(['-D', '/d', ...a], CWD).verbosity
  t.equal(v(), DEFAULT_VERBOSITY)
  t.equal(v('-v'), 3)
  t.equal(v('-vv'), 4)
  t.equal(v('-v', '-v'), 4)
  t.equal(v('-v4'), 4)
  t.equal(v('-v0'), 0)
  t.equal(v('--verbosity=1'), 1)
  t.equal(v('--verbosity'), 3)
  t.equal(v('--verbosity', '4'), 4)
  t.same(takeVerbosity(['-vvv', '-D', 'x']), { rest: ['-D', 'x'], verbosity: 5 })
})

t.test('--max-push-rate is MiB/s', async (t) => {
  t.equal(parseOptions(['--max-push-rate', '1.5'], CWD).maxPushRate, 1.5 * 1024 * 1024)
  t.equal(parseOptions([], CWD).maxPushRate, undefined)
  t.throws(() => parseOptions(['--max-push-rate', '0'], CWD), /positive/)
})

t.test('refusals', async (t) => {
  t.throws(() => parseOptions(['--tls', '-D', '/d'], CWD), /TLS is not supported \(--tls\)/)
  t.throws(() => parseOptions(['--tls-cert', 'c.pem', '--tls-key', 'k.pem'], CWD), /TLS is not supported \(--tls-cert, --tls-key\)/)
  t.throws(() => parseOptions(['--bogus'], CWD), /Unknown argument/)
  t.throws(() => parseOptions(['restore', '-D', '/d'], CWD), UsageError)
  t.throws(() => parseOptions(['--page-server'], CWD), /--page-server needs --port/)
  t.throws(() => parseOptions(['--page-server', '--port', '70000'], CWD), /--port must be/)
  t.throws(() => parseOptions(['--page-server', '--port', '1', '--page-server-proto', '4.3'], CWD), /Invalid values/)
  t.throws(() => parseOptions(['--verbosity=loud'], CWD), /bad verbosity/)
})

t.test('--address without --page-server is ignored with a warning, as CRIU ignores it', async (t) => {
  const o = parseOptions(['--address', '/tmp/sock', '-D', '/d'], CWD)
  t.equal(o.pageServer, undefined)
  t.match(o.warnings[0], /ignored without --page-server/)
})

t.test('-d re-runs the same command without -d and with its own status fd; the pid file is the starter\'s', async (t) => {
  t.same(daemonArgs(['lazy-pages', '-d', '-D', '/d', '--status-fd', '5', '--pidfile', 'x']),
    ['lazy-pages', '-D', '/d', '--detached-daemon', '--status-fd', '3'])
  t.same(daemonArgs(['-D', '/d', '--pidfile=x', '--status-fd=4', '-d']), ['-D', '/d', '--detached-daemon', '--status-fd', '3'])
  t.equal(parseOptions(['--detached-daemon', '-D', '/d']).detached, true)
  t.equal(parseOptions(['-D', '/d']).detached, false)
})

t.test('page stream: --pages-from-cmd, --pages-fds, --on-source-loss', async (t) => {
  const o = parseOptions(['-D', '/d', '--pages-from-cmd', 'ssh src feeder'], CWD)
  t.same(o.pagesFrom, { cmd: 'ssh src feeder' })
  t.equal(o.onSourceLoss, 'kill', 'fail-stop by default')
  const f = parseOptions(['-D', '/d', '--pages-fds', '0,1', '--on-source-loss', 'zero'], CWD)
  t.same(f.pagesFrom, { fds: [0, 1] })
  t.equal(f.onSourceLoss, 'zero')
  t.equal(parseOptions(['-D', '/d'], CWD).pagesFrom, undefined)
  t.throws(() => parseOptions(['--pages-fds', '3'], CWD), /--pages-fds takes R,W/)
  t.throws(() => parseOptions(['--pages-fds', '3,4', '--pages-from-cmd', 'x'], CWD), /pick one/)
  t.throws(() => parseOptions(['--pages-fds', '3,4', '--page-server', '--port', '1'], CWD), /two sources: pick one/)
  t.throws(() => parseOptions(['--pages-from-cmd', ' '], CWD), /needs a command/)
  t.throws(() => parseOptions(['--on-source-loss', 'ignore'], CWD), /Invalid values/)
})

t.test('--base: where a page stream\'s references point, with a page stream only', async (t) => {
  t.equal(parseOptions(['-D', '/d', '--pages-fds', '0,1', '--base', 'base'], CWD).base, '/srv/run/base')
  t.equal(parseOptions(['-D', '/d', '--pages-fds', '0,1'], CWD).base, undefined)
  t.throws(() => parseOptions(['-D', '/d', '--base', '/b'], CWD), /--base is for a page stream's references: it needs --pages-from-cmd or --pages-fds/)
  t.throws(() => parseOptions(['-D', '/d', '--page-server', '--port', '1', '--base', '/b'], CWD), /--base is for a page stream's references/)
})

t.test('uffd-serve --page-server with a CRIU command: a socketpair, no port', async (t) => {
  const cmd = ['criu', 'page-server', '--lazy-pages', '-D', '/full']
  t.same(parseOptions(['-D', '/d', '--page-server', '--', ...cmd], CWD).pageServer, { command: cmd, proto: 'auto' })
  t.throws(() => parseOptions(['-D', '/d', '--', ...cmd], CWD), /needs --page-server/)
  t.throws(() => parseOptions(['-D', '/d', '--page-server', '--port', '1', '--', ...cmd], CWD), /takes no --address or --port/)
  t.throws(() => parseOptions(['-D', '/d', '--page-server'], CWD), /--page-server needs --port, or a CRIU command after --/)
  t.same(daemonArgs(['-d', '-D', '/d', '--page-server', '--', ...cmd, '-d']),
    ['-D', '/d', '--page-server', '--detached-daemon', '--status-fd', '3', '--', ...cmd, '-d'], 'the command passes through -d as it is')
})

t.test('a bad command line exits 2 with one line, as the man page says (1 is for every other error)', async (t) => {
  const { spawnSync } = await import('node:child_process')
  const { BIN } = await import('./fixtures/lazy-task.js')
  for (const args of [['--bogus'], ['--page-server'], ['--tls']]) {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' })
    t.equal(r.status, 2, args.join(' '))
    t.match(r.stderr, /^uffd-serve: [^\n]+\n$/, 'one line')
  }
})
