// Harness for end-to-end tests against a real CRIU (import from '@criu-pipes/e2e/harness').
export { repoRoot, criuBin, criuRelease } from './paths.js'
export { criuAvailable, criuAtLeast, needCriu, needCriuAtLeast, pageServerProto, type CriuAvailability, type GateHost } from './criu-available.js'
export { runCriu, spawnCriu, criuArgv, optionValue, logTail, CriuError, type CriuOptions, type CriuRun } from './run-criu.js'
export { startRestore, type Restore, type RestoreOptions } from './restore.js'
export { buildWorkload } from './build.js'
export { startWorkload, workloadFromPid, type Workload, type WorkloadOptions, type WorkloadMode, type WorkloadMemory, type HugehogMode, type Exit } from './workload.js'
export { procStat, pidAlive, sessionMembers, waitSessionGone, type ProcStat } from './procfs.js'
export { tmpDir, type TeardownHost } from './tmp-dir.js'
export { shell } from './shell.js'
export { waitFor, sleep, type WaitOptions } from './wait.js'
export { killGroup } from './cleanup.js'
export {
  UFFD_SERVE, PAGE_FEED, startUffdServe, rootSummary, allDelivered, freePort, raisePipeMaxSize, childrenOf, onlyChild,
  lazyDumpInNs, workloadInNs, type NamespacedWorkload, type Summary, type UffdServe, type LazyDump,
} from './lazy.js'
export { restoredAndVerified } from './verified-restore.js'
export { testUser, type TestUser } from './test-user.js'
export { reserveHugePages } from './hugepages.js'
export { runScenario } from './scenario.js'
export { twoHostsUp, type TwoHosts, type TwoHostsOptions } from './two-hosts.js'
export { cephRgwStart, cephInstalled, type CephRgw, type CephRgwOptions } from './ceph-rgw.js'
export { tcpClient, tcpGoesOn, listeningPort, type TcpClient } from './tcp-client.js'
