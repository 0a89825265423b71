// What the scenario scripts take from outside (issue 14, item 6, and the two-hosts review
// finding): a CI job's URL (its command line), the workspace archive (an object from the bucket:
// whoever may write the prefix made it), a two-hosts dir named on `down`'s command line. None
// may run a command, write a file outside the job's work dir, or name what root removes.
// No store is needed: the functions are run as the scripts run them, with a recording client.
import t from 'tap'
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { randomInt } from 'node:crypto'
import { execSync } from 'node:child_process'
import { repoRoot, shell, tmpDir } from '../lib/index.js'
import { testUser } from '../lib/test-user.js'

const objectStore = () => join(repoRoot(), 'scripts', 'lib', 'object-store.sh')
const twoHosts = () => join(repoRoot(), 'scripts', 'lib', 'two-hosts.sh')

/** Runs `cmd` in bash with object-store.sh sourced, as the scenarios source it. */
const withObjectStore = (cmd: string, env: Record<string, string>) =>
  shell(`REPO=${repoRoot()}; source ${objectStore()}; ${cmd}`, { env, reject: false })

t.test('the URL reaches the shard filters as data: a hostile one runs nothing', async t => {
  const dir = tmpDir(t)
  const pwned = `/tmp/pwned-${randomInt(1e9)}`
  t.teardown(() => execSync(`rm -f ${pwned}`))
  const url = `s3://bucket/ck$(touch ${pwned})\`touch ${pwned}\`;touch ${pwned}`
  // The client records its arguments, one a line, and reads the shard (upload) or writes nothing.
  const client = join(dir, 'client')
  writeFileSync(client, `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/args\ncat > /dev/null\n`, { mode: 0o755 })
  for (const [s3Client, wanted] of [['aws', `${url}/3`], ['rclone', `criupipes:${url.slice('s3://'.length)}/3`]]) {
    for (const side of ['upload', 'download']) {
      const r = await withObjectStore(`S3_CLIENT=${s3Client} S3_CP=${client} RCLONE=${client}; f=$(${side}_filter); S3_URL=$URL SHARD=3 sh -c "$f" < /dev/null`, { URL: url })
      t.equal(r.exitCode, 0, `${s3Client} ${side}: ${r.stderr}`)
      t.ok(readFileSync(join(dir, 'args'), 'utf8').split('\n').includes(wanted!), `${s3Client} ${side}: the client gets the URL as it was given`)
      t.notOk(existsSync(pwned), `${s3Client} ${side}: nothing in the URL ran`)
    }
  }
})

t.test("the workspace archive: only its two regular files are unpacked, into the work dir, without owner or setuid bits", async t => {
  const dir = tmpDir(t)
  const outside = join(dir, 'outside')
  mkdirSync(outside)
  const src = join(dir, 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'memhog'), 'program', { mode: 0o755 })
  writeFileSync(join(src, 'app.log'), 'log', { mode: 0o644 })
  const make = (name: string, cmd: string): string => { const a = join(dir, `${name}.tar`); execSync(cmd.replaceAll('A.tar', a), { cwd: dir, stdio: 'ignore' }); return a }
  const unpack = async (archive: string) => {
    const ws = join(dir, `ws-${randomInt(1e9)}`)
    mkdirSync(ws, { mode: 0o700 })
    const r = await withObjectStore('unpack_workspace "$A" "$W"', { A: archive, W: ws })
    return { ...r, ws }
  }

  const good = await unpack(make('good', `tar --owner=1234 --group=1234 -C ${src} -cf A.tar memhog app.log`))
  t.equal(good.exitCode, 0, good.stderr)
  t.same(readdirSync(good.ws).sort(), ['app.log', 'memhog'])
  t.equal(statSync(join(good.ws, 'memhog')).uid, 0, 'owned by root, not by the uid in the archive')
  t.equal(statSync(join(good.ws, 'memhog')).mode & 0o7777, 0o755, 'the mode kept (CRIU checks it)')

  chmodSync(join(src, 'memhog'), 0o6777)
  const suid = await unpack(make('suid', `tar -C ${src} -cf A.tar memhog app.log`))
  chmodSync(join(src, 'memhog'), 0o755)
  t.equal(suid.exitCode, 0, suid.stderr)
  t.equal(statSync(join(suid.ws, 'memhog')).mode & 0o7777, 0o755, 'no setuid, setgid, group or other write')

  mkdirSync(join(dir, 'evil'))
  execSync(`ln -s ${outside} ${dir}/evil/memhog && ln -s ${outside}/x ${dir}/evil/app.log && echo planted > ${dir}/evil/x`)
  const hostile: [string, string][] = [
    ['an absolute path', `tar -C ${src} -cf A.tar memhog app.log && tar -P -C ${dir}/evil --transform 's,^x$,${outside}/x,' -rf A.tar x`],
    ['a ../ entry', `tar -C ${src} -cf A.tar memhog app.log && tar -P -C ${dir}/evil --transform 's,^x$,../outside/x,' -rf A.tar x`],
    ['a symlink, then a file through it', `tar -C ${dir}/evil -cf A.tar memhog app.log && tar -C ${dir}/evil --transform s,^x,memhog/x, -rf A.tar x`],
    ['symlinks in place of the two files', `tar -C ${dir}/evil -cf A.tar memhog app.log`],
    ['a hard link', `ln ${dir}/evil/x ${dir}/evil/h && tar -C ${dir}/evil --transform 's,^x$,memhog,;s,^h$,app.log,' -cf A.tar x h`],
    ['a second copy of a name', `tar -C ${src} -cf A.tar memhog app.log memhog`],
    ['not a tar at all', 'echo hello > A.tar'],
  ]
  for (const [what, cmd] of hostile) {
    writeFileSync(join(outside, 'x'), 'untouched')
    const r = await unpack(make(what.replaceAll(' ', '-').replaceAll('/', ''), cmd))
    t.equal(r.exitCode, 1, `${what}: refused`)
    t.same(readdirSync(r.ws), [], `${what}: nothing unpacked`)
    t.same(readdirSync(outside), ['x'], `${what}: nothing written outside`)
    t.equal(readFileSync(join(outside, 'x'), 'utf8'), 'untouched', `${what}: nothing overwritten outside`)
  }
})

t.test('two-hosts.sh down: a dir another user controls, or an env that is not one `up` writes, is refused, never sourced', async t => {
  const user = testUser(t)
  const victim = tmpDir(t)
  writeFileSync(join(victim, 'keep'), 'root only')
  const pwned = `/tmp/pwned-${randomInt(1e9)}`
  t.teardown(() => execSync(`rm -f ${pwned}`))
  const env = `export TWO_HOSTS_DIR=${victim}\ntouch ${pwned}\nexport TWO_HOSTS_SRC_NS=x\nexport TWO_HOSTS_DST_NS=y\n`
  const down = (dir: string) => shell(`bash ${twoHosts()} down ${dir}`, { reject: false })

  const theirs = `/tmp/h1t-two-hosts.${randomInt(100_000, 999_999)}`
  t.teardown(() => execSync(`rm -rf ${theirs}`))
  t.equal(user.run(`mkdir -m 700 ${theirs} && printf '%s' '${env}' > ${theirs}/env`), 0, 'the user makes a dir that looks like one of ours')
  const a = await down(theirs)
  t.equal(a.exitCode, 2)
  t.match(a.stderr, new RegExp(`^two-hosts: down: ${theirs} belongs to uid ${user.uid}`), 'refused: not ours')

  const ours = (name: string, content: string): string => {
    const d = `/tmp/h1r-two-hosts.${name}${randomInt(100, 999)}`
    mkdirSync(d, { mode: 0o700 })
    t.teardown(() => execSync(`rm -rf ${d}`))
    writeFileSync(join(d, 'env'), content.replaceAll('DIR_SELF', d))
    return d
  }
  const b = await down(ours('cmd', `export TWO_HOSTS_DIR=DIR_SELF\nexport TWO_HOSTS_SRC_NS=$(touch ${pwned})\nexport TWO_HOSTS_DST_NS=y\n`))
  t.equal(b.exitCode, 2)
  t.match(b.stderr, /env is not one two-hosts.sh up writes/, 'a command in a value: refused')
  const c = await down(ours('dir', `export TWO_HOSTS_DIR=${victim}\nexport TWO_HOSTS_SRC_NS=x\nexport TWO_HOSTS_DST_NS=y\n`))
  t.equal(c.exitCode, 2)
  t.match(c.stderr, /env is not one two-hosts.sh up writes/, 'another dir to remove: refused')
  const link = `/tmp/h1l-two-hosts.${randomInt(100_000, 999_999)}`
  execSync(`ln -s ${victim} ${link}`)
  t.teardown(() => execSync(`rm -f ${link}`))
  t.equal((await down(link)).exitCode, 2, 'a symlink: refused')
  t.equal((await down('/tmp/x/../etc/y-two-hosts.abcdef')).exitCode, 2, 'a path that is not a dir up makes: refused')

  t.notOk(existsSync(pwned), 'nothing in any env ran')
  t.equal(readFileSync(join(victim, 'keep'), 'utf8'), 'root only', 'the victim dir is intact')
})

t.test('install.sh: a prefix or a manifest another user controls is refused; no file outside the prefix is removed', async t => {
  const user = testUser(t)
  const install = (args: string) => shell(`bash ${join(repoRoot(), 'scripts', 'install.sh')} ${args}`, { reject: false })
  const victim = join(tmpDir(t), 'victim')
  writeFileSync(victim, 'root only')
  // Their prefix, with a manifest that names root's file: --uninstall would have removed it.
  const theirs = `/tmp/h1p-prefix.${randomInt(100_000, 999_999)}`
  t.teardown(() => execSync(`rm -rf ${theirs}`))
  t.equal(user.run(`mkdir -p ${theirs}/lib/criu-pipes && echo 'file ${victim}' > ${theirs}/lib/criu-pipes/installed`), 0)
  const a = await install(`--prefix ${theirs} --uninstall`)
  t.equal(a.exitCode, 1)
  t.match(a.stderr, new RegExp(`^install: ${theirs}: ${theirs} belongs to uid ${user.uid}`), 'their prefix: refused')
  // Our prefix, but a manifest that reaches outside it (or one they could write).
  const ours = tmpDir(t)
  mkdirSync(join(ours, 'lib', 'criu-pipes'), { recursive: true })
  writeFileSync(join(ours, 'lib', 'criu-pipes', 'installed'), `file ${victim}\n`, { mode: 0o644 })
  const b = await install(`--prefix ${ours} --uninstall`)
  t.equal(b.exitCode, 1)
  t.match(b.stderr, /lists file .*victim, outside .*: refusing it/, 'an entry outside the prefix: refused')
  writeFileSync(join(ours, 'lib', 'criu-pipes', 'installed'), `file ${ours}/bin/../../victim\n`)
  t.match((await install(`--prefix ${ours} --uninstall`)).stderr, /refusing it/, 'a .. entry: refused')
  writeFileSync(join(ours, 'lib', 'criu-pipes', 'installed'), `file ${ours}/bin/x\n`)
  chmodSync(join(ours, 'lib', 'criu-pipes', 'installed'), 0o666)
  t.match((await install(`--prefix ${ours} --uninstall`)).stderr, /writable by others .*refusing it/, 'a manifest others may write: refused')
  // A symlink on the way that another user owns.
  const link = `/tmp/h1l-prefix.${randomInt(100_000, 999_999)}`
  execSync(`runuser -u ${user.name} -- ln -s ${ours} ${link}`)
  t.teardown(() => execSync(`rm -f ${link}`))
  t.match((await install(`--prefix ${link} --uninstall`)).stderr, /is a symbolic link of uid \d+: refusing to follow it/, 'their symlink: refused')
  t.equal(readFileSync(victim, 'utf8'), 'root only', 'root\'s file is still there')
})
