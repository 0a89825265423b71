// Runs a scenario script (scripts/scenarios/NAME.sh) and checks its verdict: exit 0 and a last
// line `SCENARIO PASSED: NAME`. The script's output is shown on failure (and kept in the
// assertion's diagnostics), since it says what the scenario did.
import { join } from 'node:path'
import { execa } from 'execa'
import { criuBin, repoRoot } from './paths.js'

/** The part of a tap Test used (structural, so any tap version fits). */
export interface ScenarioHost {
  equal(found: unknown, wanted: string | number, message: string, extra: object): unknown
}

// A scenario moves a 64 MiB workload through CRIU twice (more over ssh); generous for 2 busy cores.
const SCENARIO_TIMEOUT_MS = 300_000

export async function runScenario(t: ScenarioHost, name: string, env: Record<string, string> = {}): Promise<string> {
  const script = join(repoRoot(), 'scripts', 'scenarios', `${name}.sh`)
  const r = await execa('bash', [script], {
    env: { CRIU: criuBin(), ...env }, all: true, reject: false, stdin: 'ignore', timeout: SCENARIO_TIMEOUT_MS,
  })
  const out = String(r.all ?? '')
  const verdict = out.trim().split('\n').filter(l => l.startsWith('SCENARIO ')).pop() ?? '(no verdict line)'
  t.equal(verdict, `SCENARIO PASSED: ${name}`, `${name}: verdict`, { output: out.split('\n').slice(-40).join('\n') })
  t.equal(r.exitCode, 0, `${name}: exit status`, {})
  return out
}
