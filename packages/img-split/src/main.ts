// As CRIU's action script, img-split runs for every action of the dump, the post-dump one while
// the dumped process is frozen: it loads only what the hook needs, nothing at all for the other
// actions (each is a wait in `criu dump`), and the capture loads its modules when it runs.
const argv = process.argv.slice(2)
const action = argv.length === 0 ? process.env.CRTOOLS_SCRIPT_ACTION : undefined
if (action !== undefined && action !== 'post-dump') process.exit(0)
const { runMain } = await import('@criu-pipes/streamer/run-main')
if (action !== undefined) {
  const { runActionHook } = await import('./action-hook.js')
  runMain('img-split', () => runActionHook(process.env))
} else {
  runMain('img-split', async () => {
    const [{ startServerDaemon, withShardFilters }, { parseOptions }, { capture }] = await Promise.all([import('@criu-pipes/streamer'), import('./options.js'), import('./capture.js')])
    const o = parseOptions(argv)
    if (o.server.start) return startServerDaemon('img-split', argv, o.imagesDir, o.keepFds, o.server.start.pidfile)
    return withShardFilters('feed', o.filter, o.shardFds, async (shardFds, filters) => { await capture({ ...o, shardFds, shardSinks: filters?.sinks() }) })
  })
}
