/**
 * Test driver: runs one sandbox session in its own process, so a test can signal it.
 *
 *   node session-main.js PLAN.json TOPOLOGY ENDPOINT_SCRIPT [--hold]
 *
 * Log lines go to stdout as they happen; --hold keeps the built sandbox until a signal.
 * Exit status: 0 after a full run, 128+n after signal n (the sandbox torn down), 1 on error.
 */
import { readFileSync } from 'node:fs';
import type { SandboxPlan, Topology } from '../plan';
import { InterruptedError, runSandboxSession } from '../session';

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

async function main(): Promise<void> {
  const [planFile, topology, endpointScript, hold] = process.argv.slice(2);
  const plan = JSON.parse(readFileSync(planFile, 'utf8')) as SandboxPlan;
  const result = await runSandboxSession({
    plan,
    topology: topology as Topology,
    probes: plan.probes,
    keep: false,
    endpointScript,
    log: (line) => process.stdout.write(`${line}\n`),
    onReady: hold === '--hold' ? () => new Promise<void>(() => process.stdout.write('holding\n')) : undefined,
  });
  process.stdout.write(`done ${result.id}\n`);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stdout.write(`error: ${e.message}\n`);
    process.exit(e instanceof InterruptedError ? 128 + (SIGNAL_NUMBERS[e.signal] ?? 15) : 1);
  },
);
