/**
 * One `palisade sandbox` run: build, probe, then tear down (or keep), with teardown certain on
 * SIGINT, SIGTERM and SIGHUP. The first signal aborts whatever step is running (each build
 * step finishes its current command first, so nothing is half-created behind the record); the
 * sandbox is then torn down and the run ends with InterruptedError. Further signals during
 * teardown are acknowledged and otherwise ignored: stopping half-way would leak.
 */
import type { ProbeReport, ProbeRunSettings } from './probe-run';
import { DEFAULT_PROBE_SETTINGS } from './probe-run';
import type { PlanProbe, SandboxPlan, Topology } from './plan';
import { Sandbox, type BuildTimings, type EnforcementSetup } from './sandbox';
import { readVerdicts, verdictCursor } from './verdicts';
import type { VerdictEvent } from '../../agent/daemon/verdicts/event';

export class InterruptedError extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}; the sandbox was torn down`);
  }
}

export interface SessionOptions {
  readonly plan: SandboxPlan;
  readonly topology: Topology;
  readonly probes: readonly PlanProbe[];
  readonly keep: boolean;
  readonly enforcement?: EnforcementSetup;
  readonly endpointScript?: string;
  readonly probeSettings?: ProbeRunSettings;
  readonly log?: (line: string) => void;
  /** Called once the sandbox is built, before probing (tests use it to wait for a signal). */
  readonly onReady?: (sandbox: Sandbox) => Promise<void>;
}

export interface SessionResult {
  readonly id: string;
  readonly report: ProbeReport;
  readonly kept: boolean;
  /** A kept sandbox with agents: the kubeconfig of its API server (for kubectl). */
  readonly kubeconfig: string | undefined;
  readonly timings: BuildTimings | undefined;
  readonly probeMs: number;
  readonly teardownMs: number;
  /**
   * With agents: the verdict events their kernels logged while probing (undefined when they
   * could not be read; `verdictsError` says why).
   */
  readonly verdicts?: readonly VerdictEvent[];
  readonly verdictsError?: string;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export async function runSandboxSession(opts: SessionOptions): Promise<SessionResult> {
  const log = opts.log ?? (() => undefined);
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  let tearingDown = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (received) {
      log(tearingDown ? `${sig}: still tearing the sandbox down, please wait` : `${sig}: already stopping`);
      return;
    }
    received = sig;
    log(`${sig}: stopping and tearing the sandbox down`);
    controller.abort(new InterruptedError(sig));
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), {
      once: true,
    });
  });
  aborted.catch(() => undefined);

  let sandbox: Sandbox | undefined;
  try {
    try {
      sandbox = await Sandbox.create(opts.plan, {
        topology: opts.topology,
        keep: opts.keep,
        enforcement: opts.enforcement,
        endpointScript: opts.endpointScript,
        signal: controller.signal,
        log,
      });
    } catch (e) {
      // create() has torn down what it built.
      throw received ? new InterruptedError(received) : e;
    }
    let report: ProbeReport | undefined;
    let probeMs = 0;
    let failure: unknown;
    let verdicts: VerdictEvent[] | undefined;
    let verdictsError: string | undefined;
    try {
      if (opts.onReady) await Promise.race([opts.onReady(sandbox), aborted]);
      const agents = opts.enforcement ? sandbox.agentDebugSockets() : [];
      const cursor = agents.length > 0 ? await verdictCursor(agents).catch(() => undefined) : undefined;
      const t0 = Date.now();
      report = await Promise.race([
        sandbox.probe(opts.probes, opts.probeSettings ?? DEFAULT_PROBE_SETTINGS),
        aborted,
      ]);
      probeMs = Date.now() - t0;
      log(
        `sandbox ${sandbox.id}: ${report.trials} probes (${opts.probes.length} per pair and family) in ${probeMs} ms`,
      );
      if (cursor) {
        try {
          verdicts = await readVerdicts(agents, cursor);
        } catch (e) {
          verdictsError = (e as Error).message;
        }
      } else if (agents.length > 0) verdictsError = "the agents' verdict logs could not be read";
    } catch (e) {
      failure = received ? new InterruptedError(received) : e;
    }
    const keep = opts.keep && failure === undefined && received === undefined;
    const t1 = Date.now();
    if (keep) {
      sandbox.detach();
    } else {
      tearingDown = true;
      await sandbox.teardown();
    }
    const teardownMs = keep ? 0 : Date.now() - t1;
    if (!keep) log(`sandbox ${sandbox.id}: torn down in ${teardownMs} ms`);
    if (received && !keep) throw new InterruptedError(received);
    if (failure !== undefined) throw failure;
    return {
      id: sandbox.id,
      report: report!,
      kept: keep,
      kubeconfig: keep ? sandbox.kubeconfig : undefined,
      timings: sandbox.timings,
      probeMs,
      teardownMs,
      ...(verdicts ? { verdicts } : {}),
      ...(verdictsError !== undefined ? { verdictsError } : {}),
    };
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
  }
}
