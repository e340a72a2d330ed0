/**
 * The agent's Prometheus metrics, in a registry of its own (tests build as many as they like).
 *
 * Latency histograms use fine buckets from 1 ms to 10 s (roughly 8 per decade), so the median
 * and p99 of event-to-enforcement can be read from /metrics with useful precision.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { KernelCounts } from '../../dataplane/api';

/** 1 ms .. 10 s: 1, 1.5, 2, 3, 4, 5, 6, 8 per decade. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = (() => {
  const steps = [1, 1.5, 2, 3, 4, 5, 6, 8];
  const out: number[] = [];
  for (let decade = 0.001; decade < 10; decade *= 10) {
    for (const s of steps) out.push(Number((s * decade).toPrecision(3)));
  }
  out.push(10);
  return out;
})();

export type WatchRestartReason = 'expired' | 'closed' | 'timeout' | 'error';

export class AgentMetrics {
  readonly registry = new Registry();

  readonly applyDuration = new Histogram({
    name: 'palisade_apply_duration_seconds',
    help: 'Duration of one apply (compile flush, render, diff and kernel restore), by result.',
    labelNames: ['result'] as const,
    buckets: [...LATENCY_BUCKETS_SECONDS],
    registers: [this.registry],
  });
  readonly eventToEnforcement = new Histogram({
    name: 'palisade_event_to_enforcement_seconds',
    help: 'Time from a watch event reaching the agent to the end of the successful apply that includes it.',
    buckets: [...LATENCY_BUCKETS_SECONDS],
    registers: [this.registry],
  });
  readonly applyEvents = new Histogram({
    name: 'palisade_apply_events',
    help: 'Number of model-changing events covered by one successful apply.',
    buckets: [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
    registers: [this.registry],
  });
  readonly applyRestoreBytes = new Histogram({
    name: 'palisade_apply_restore_bytes',
    help: 'Bytes of restore input (ipset and iptables) written by one successful apply.',
    buckets: [0, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216],
    registers: [this.registry],
  });
  readonly applies = new Counter({
    name: 'palisade_applies_total',
    help: 'Applies attempted, by result (success, error).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly applyErrors = new Counter({
    name: 'palisade_apply_errors_total',
    help: 'Applies that failed (the kernel or a restore binary refused, or the xtables lock was held).',
    registers: [this.registry],
  });
  readonly afterApplyErrors = new Counter({
    name: 'palisade_after_apply_errors_total',
    help: 'Applies whose after-apply step (cutting connections the new rules deny) failed; retried with the next apply.',
    registers: [this.registry],
  });
  readonly connectionsCut = new Counter({
    name: 'palisade_connections_cut_total',
    help: 'Conntrack entries of open connections deleted because a policy change denies them.',
    registers: [this.registry],
  });
  readonly connectionsChecked = new Counter({
    name: 'palisade_connections_checked_total',
    help: 'Open connections (groups of protocol, source, destination, port) judged after applies.',
    registers: [this.registry],
  });
  readonly driftChecks = new Counter({
    name: 'palisade_drift_checks_total',
    help: 'Periodic drift checks run (resync), by result (clean, repaired, error).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly driftRepairs = new Counter({
    name: 'palisade_drift_repairs_total',
    help: 'Drift repairs: periodic resyncs that found the kernel differing from the desired state and rewrote it.',
    registers: [this.registry],
  });
  readonly driftDifferences = new Counter({
    name: 'palisade_drift_differences_total',
    help: 'Differences between kernel and desired state found and repaired by resyncs.',
    registers: [this.registry],
  });
  readonly watchRestarts = new Counter({
    name: 'palisade_watch_restarts_total',
    help: 'Watch restarts by resource and reason (expired: 410 Gone, relisted; gone: 404, the resource is not served any more, relisted; closed: server ended the watch; timeout: no data; error: connection failed).',
    labelNames: ['resource', 'reason'] as const,
    registers: [this.registry],
  });
  readonly eventsReceived = new Counter({
    name: 'palisade_events_received_total',
    help: 'Watch events and list items received, by resource and type (added, modified, deleted, bookmark, listed, relist_deleted).',
    labelNames: ['resource', 'type'] as const,
    registers: [this.registry],
  });
  readonly cachedObjects = new Gauge({
    name: 'palisade_cached_objects',
    help: 'Objects held in the agent cache (slim projections), by resource.',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });
  readonly pendingEvents = new Gauge({
    name: 'palisade_pending_events',
    help: 'Model-changing events received and not yet enforced.',
    registers: [this.registry],
  });
  readonly rules = new Gauge({
    name: 'palisade_rules',
    help: 'iptables rules programmed by Palisade (desired state).',
    registers: [this.registry],
  });
  readonly chains = new Gauge({
    name: 'palisade_chains',
    help: 'iptables chains owned by Palisade.',
    registers: [this.registry],
  });
  readonly ipsets = new Gauge({
    name: 'palisade_ipsets',
    help: 'ipsets owned by Palisade.',
    registers: [this.registry],
  });
  readonly ipsetMembers = new Gauge({
    name: 'palisade_ipset_members',
    help: 'Members of the ipsets owned by Palisade.',
    registers: [this.registry],
  });
  readonly lastApplySuccess = new Gauge({
    name: 'palisade_last_successful_apply_timestamp_seconds',
    help: 'Unix time of the end of the last successful apply.',
    registers: [this.registry],
  });

  readonly verdicts = new Counter({
    name: 'palisade_verdicts_total',
    help: 'Verdicts the kernel logged (NFLOG, rate-limited per node), per policy: direction, verdict (denied, allowed, would-deny, would-allow), the deciding policy (a NetworkPolicy by namespace and name, a ClusterNetworkPolicy by name with an empty namespace, the isolating NetworkPolicies joined by commas for the NetworkPolicy tier drop) and tier. Never per pod.',
    labelNames: ['direction', 'verdict', 'policy_namespace', 'policy', 'tier'] as const,
    registers: [this.registry],
  });
  readonly verdictEventsLost = new Counter({
    name: 'palisade_verdict_events_lost_total',
    help: 'Verdict events lost, by reason: rate_limit (over the kernel rate limit), queue_overflow (the kernel could not queue NFLOG messages to the reader: a lower bound), slow_reader (a watcher fell behind the event buffer).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  setKernelCounts(c: KernelCounts): void {
    this.rules.set(c.rules);
    this.chains.set(c.chains);
    this.ipsets.set(c.ipsets);
    this.ipsetMembers.set(c.members);
  }
}
