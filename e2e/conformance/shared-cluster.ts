/**
 * SharedCluster: one sandbox with agents that many cluster states pass through, as upstream's
 * suite runs all its cases on one set of pods.
 *
 *   start(plan, initial objects) ── Sandbox.create (network, endpoints, API server, agents)
 *   moveTo(objects) ── planWrites(held, wanted) ── ApiWriter.apply (HTTP, at the sandbox's
 *                      kubeconfig) ── waitForEnforcement (every agent's debug socket)
 *   probe(probes)  ── forget UDP flows in the nodes ── real packets between every pair
 *                     ── forget the probes' flows (they would slow the agents' flow cutter)
 *                     ── the verdict events every agent logged meanwhile (attribution.ts)
 *
 * Promise: after moveTo resolves, every agent has applied exactly the objects given (each
 * watch reached the revision of the last write to its resource, nothing is pending, the last
 * apply succeeded, and the agent's model holds the expected policies and labels); a probe
 * after that measures new connections only. The caller is the API server's only writer.
 */
import {
  DEFAULT_ENFORCEMENT_LAUNCH,
  DEFAULT_PROBE_SETTINGS,
  enforcement,
  launchWithBackend,
  Sandbox,
  type ProbeRunSettings,
  type K8sObject,
  type PlanProbe,
  type ProbeReport,
  type SandboxPlan,
  type Topology,
} from '../sandbox';
import { waitForEnforcement, expectedModel, type EnforcementWait } from './agent-sync';
import { ApiWriter, RESOURCE_OF_KIND } from './api-writer';
import { planWrites, type ClusterWrite, type ObjectKind, type PolicyChange } from './cluster-writes';
import { forgetProbeFlows, forgetUdpFlows } from '../sandbox/flows';
import { readVerdicts, verdictCursor, type VerdictCursor } from '../sandbox/verdicts';
import type { VerdictEvent } from '../../agent/daemon/verdicts/event';

/**
 * The agents log every drop with a kernel rate limit far above what a probe run sends (the
 * largest cases send a few thousand denied packets per node in about a second), so the
 * attribution check sees every one.
 */
const AGENT_ARGV = [
  ...DEFAULT_ENFORCEMENT_LAUNCH.agentArgv,
  '--verdict-log',
  'denied',
  '--verdict-log-rate',
  '10000',
  '--verdict-log-burst',
  '100000',
  '--verdict-buffer',
  '65536',
];

export interface SharedClusterOptions {
  readonly topology: Topology;
  /** The endpoint program (tests pass one transpiled from the sources); default: dist/. */
  readonly endpointScript?: string;
  readonly log?: (line: string) => void;
  /** How long agents may take to enforce a state. */
  readonly enforceTimeoutMs?: number;
  /** The agents' dataplane backend; default the agent's (iptables). */
  readonly backend?: 'iptables' | 'nftables';
}

export interface MoveResult {
  readonly writes: readonly ClusterWrite[];
  readonly enforcement: EnforcementWait;
}

export interface ProbeResult {
  readonly report: ProbeReport;
  readonly probeMs: number;
  /** Trials whose packets did not get through (each waited for its timeout, in parallel). */
  readonly failedTrials: number;
  /** The sum of those timeouts: what probing one trial after another would have waited. */
  readonly serialWaitMs: number;
  /** The verdict events the agents logged while probing. */
  readonly events: readonly VerdictEvent[];
  /** Where the agents' streams were before probing (for `verdictsSince`). */
  readonly cursor: VerdictCursor;
}

/** How long a trial that does not get through waits, by protocol. */
function timeoutOf(protocol: string, s: ProbeRunSettings): number {
  if (protocol === 'TCP') return s.tcpTimeoutMs;
  if (protocol === 'UDP') return s.udpTimeoutMs * s.udpAttempts;
  return s.sctpGapMs * (s.sctpAttempts - 1) + s.sctpSettleMs;
}

export class SharedCluster {
  private constructor(
    readonly sandbox: Sandbox,
    private readonly api: ApiWriter,
    private held: readonly K8sObject[],
    private readonly enforceTimeoutMs: number,
  ) {}

  get plan(): SandboxPlan {
    return this.sandbox.plan;
  }

  /** The objects the API server holds (as this cluster wrote them). */
  get objects(): readonly K8sObject[] {
    return this.held;
  }

  static async start(
    plan: SandboxPlan,
    initial: readonly K8sObject[],
    opts: SharedClusterOptions,
  ): Promise<SharedCluster> {
    const sandbox = await Sandbox.create(plan, {
      topology: opts.topology,
      endpointScript: opts.endpointScript,
      enforcement: enforcement(
        initial,
        opts.backend
          ? launchWithBackend(opts.backend, { ...DEFAULT_ENFORCEMENT_LAUNCH, agentArgv: AGENT_ARGV })
          : { ...DEFAULT_ENFORCEMENT_LAUNCH, agentArgv: AGENT_ARGV },
      ),
      log: opts.log,
    });
    try {
      if (!sandbox.kubeconfig) throw new Error('the sandbox wrote no kubeconfig');
      const api = ApiWriter.fromKubeconfig(sandbox.kubeconfig);
      return new SharedCluster(sandbox, api, initial, opts.enforceTimeoutMs ?? 20_000);
    } catch (e) {
      await sandbox.teardown();
      throw e;
    }
  }

  /** Writes what differs from `objects` and waits until every agent enforces exactly that. */
  async moveTo(objects: readonly K8sObject[], policyChange: PolicyChange = 'recreate'): Promise<MoveResult> {
    const writes = planWrites(this.held, objects, policyChange);
    let targets;
    try {
      targets = await this.api.apply(writes);
    } catch (e) {
      // Some writes may have happened: start the next move from what the server holds (of
      // the namespaces this cluster manages; the server also seeds `default`).
      const managed = new Set(this.held.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
      // The kinds planWrites handles (a CRD the cluster was seeded with never changes).
      const kinds = new Set(
        [...this.held, ...objects].map((o) => o.kind).filter((k): k is ObjectKind => k in RESOURCE_OF_KIND),
      );
      const fixed = this.held.filter((o) => !(o.kind in RESOURCE_OF_KIND));
      this.held = [
        ...fixed,
        ...(await this.api.readState([...kinds])).filter((o) =>
          o.kind === 'Namespace'
            ? managed.has(o.metadata.name)
            : o.metadata.namespace === undefined || managed.has(o.metadata.namespace),
        ),
      ];
      throw e;
    }
    this.held = objects;
    const wait = await waitForEnforcement(this.sandbox.agentDebugSockets(), targets, expectedModel(objects), {
      timeoutMs: this.enforceTimeoutMs,
    });
    return { writes, enforcement: wait };
  }

  /** Probes every pair with real packets, each probe a new connection. */
  async probe(probes: readonly PlanProbe[]): Promise<ProbeResult> {
    await forgetUdpFlows(this.sandbox);
    const cursor = await verdictCursor(this.sandbox.agentDebugSockets());
    const t0 = Date.now();
    const report = await this.sandbox.probe(probes, DEFAULT_PROBE_SETTINGS);
    const probeMs = Date.now() - t0;
    await forgetProbeFlows(this.sandbox, probes);
    let serialWaitMs = 0;
    for (const trial of report.failures.keys())
      serialWaitMs += timeoutOf(trial.split(' ')[0].split('/')[1], DEFAULT_PROBE_SETTINGS);
    const events = await this.verdictsSince(cursor);
    return { report, probeMs, failedTrials: report.failures.size, serialWaitMs, events, cursor };
  }

  /** The verdict events every agent logged after `cursor`. */
  verdictsSince(cursor: VerdictCursor): Promise<VerdictEvent[]> {
    return readVerdicts(this.sandbox.agentDebugSockets(), cursor);
  }

  async stop(): Promise<void> {
    await this.api.close();
    await this.sandbox.teardown();
  }
}
