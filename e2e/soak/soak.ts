/**
 * The soak: a live sandbox (two nodes, an agent each) under continuous churn and injected faults,
 * while a prober checks real packets against `palisade analyze` of the API state, round after
 * round, for as long as asked.
 *
 * Churn (one change every `churnEveryMs`): pods created and deleted, pods relabelled, a namespace
 * relabelled, a NetworkPolicy created and deleted, a ClusterNetworkPolicy rule switched between
 * Deny and Pass. Faults (one every `faultEveryMs`, in turn, faults.ts): an agent SIGKILLed, a chain
 * flushed and a set member deleted by hand, every watch expired (410), the API server restarted,
 * an agent's kernel tools failing, the xtables lock held.
 *
 * Each churn write's event-to-enforcement is measured (latency.ts): from the write's answer to
 * every agent reporting it applied. The transition window is max(p99 of those so far, a floor),
 * or fixed by `windowMs`. Each round reads the objects, probes every pair of live pods on 80/TCP
 * and compares each cell with analyze of those objects. A cell that differs is excused only
 * inside the transition window of a change that can affect it, or while a fault that can affect
 * it lasts (transitions.ts); any other is a disagreement outside the window, in one of two
 * directions: a packet analyze denies was delivered, or one it allows was dropped. The report
 * counts probes, disagreements, churn, faults (injected, skipped with the reason, recovery
 * times), the measured latency and the window used, and the agents' RSS.
 */
import { readFileSync } from 'node:fs';
import { loadScenario } from '../../compiler/scenario';
import { analyzeObjects } from '../conformance/state-analysis';
import { DEFAULT_ENFORCEMENT_LAUNCH, enforcement } from '../sandbox/enforcement';
import { clusterObjects, type K8sObject } from '../sandbox/k8s-objects';
import { planFromScenario, type PlanProbe, type Topology } from '../sandbox/plan';
import { DEFAULT_PROBE_SETTINGS } from '../sandbox/probe-run';
import { Sandbox } from '../sandbox/sandbox';
import type { LivePod } from '../sandbox/endpoints';
import { AGENT_NAMESPACE, agentPodName } from '../sandbox/live/config';
import { KubeRest, type Json } from '../sandbox/live/kube-rest';
import { AgentStatusPoller, hasApplied } from './agent-status';
import { agentPid, FAULT_KINDS, injectFault, type FaultKind } from './faults';
import { longestLived, peakByPeriod, type RssSample } from './memory';
import { FaultSpans, LatencyRecorder, percentile, transitionWindow, type LatencySummary } from './latency';
import { type CellEnd, type Scope, TransitionLog } from './transitions';

export interface SoakOptions {
  readonly minutes: number;
  readonly topology: Topology;
  /**
   * A fixed transition window: a change excuses disagreements of the cells it affects for this
   * long. Default: max(measured event-to-enforcement p99 so far, `windowFloorMs`).
   */
  readonly windowMs?: number;
  /** The least the measured window can be (default 1000 ms). */
  readonly windowFloorMs?: number;
  readonly churnEveryMs?: number;
  readonly faultEveryMs?: number;
  /** The fault kinds to inject, in turn (default all of FAULT_KINDS). */
  readonly faultKinds?: readonly FaultKind[];
  /** The compiled endpoint-main.js (tests); default: the one in dist/. */
  readonly endpointScript?: string;
  readonly log?: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Extra arguments for every `palisade agent` (e.g. a backend, a resync interval). */
  readonly agentArgs?: readonly string[];
  /** Leave the sandbox up when a probe disagreed outside the window (to look at its agents). */
  readonly keepOnFailure?: boolean;
}

export interface SoakDisagreement {
  readonly at: string;
  readonly cell: string;
  readonly probe: 'delivered' | 'dropped';
  /** Where the two pods run and their addresses; why the probe failed (dropped); the last faults. */
  readonly detail: string;
}

export interface FaultKindReport {
  readonly injected: number;
  /** Skipped, with the reasons given. */
  readonly skipped: number;
  readonly skipReasons: readonly string[];
  /** Injected and took effect (see FaultResult.effective). */
  readonly effective: number;
  readonly notRecovered: number;
  /** Time to recovery over the injections that recovered (see FaultResult.recoveredMs). */
  readonly recoveryP50Ms: number | null;
  readonly recoveryMaxMs: number | null;
}

export interface SoakReport {
  readonly topology: Topology;
  readonly minutes: number;
  /** The transition window at the end of the run. */
  readonly windowMs: number;
  readonly window: {
    /** measured: max(p99 so far, floor); fixed: --window. */
    readonly mode: 'measured' | 'fixed';
    readonly floorMs: number | null;
    /** The smallest and largest window any round was judged with. */
    readonly minUsedMs: number;
    readonly maxUsedMs: number;
  };
  /** Churn writes to the agents having applied them (see latency.ts). */
  readonly eventToEnforcement: LatencySummary & {
    /** Writes left out because every agent was under a fault meanwhile. */
    readonly excludedDuringFaults: number;
    /** Writes some unfaulted agent had not applied within 60 s: fails the run. */
    readonly notApplied: number;
    /** The slowest writes: what, when, how long. */
    readonly slowest: readonly { readonly kind: string; readonly at: string; readonly ms: number }[];
  };
  readonly rounds: number;
  /** Rounds given up because a pod went away while they probed. */
  readonly roundsAborted: number;
  readonly probes: number;
  readonly disagreementsInsideWindow: number;
  readonly outsideWindow: {
    /** Analyze denies, the packet got through. */
    readonly deniedDelivered: number;
    /** Analyze allows, the packet was dropped. */
    readonly allowedDropped: number;
    readonly examples: readonly SoakDisagreement[];
  };
  readonly churn: Readonly<Record<string, number>>;
  /** Injected, by kind. */
  readonly faults: Readonly<Record<string, number>>;
  /** Skipped, by kind, with the reason. */
  readonly faultsSkipped: Readonly<Record<string, { readonly count: number; readonly reason: string }>>;
  readonly faultKinds: Readonly<Record<string, FaultKindReport>>;
  /** Every fault in order: when, what, where, how long to recover, what it noted. */
  readonly faultLog: readonly string[];
  readonly agents: readonly {
    readonly node: string;
    readonly rssStartKb: number | null;
    readonly rssEndKb: number | null;
    /** The highest RSS sampled in each sixth of the run (kB; null: no sample). */
    readonly rssPeakBySixthKb: readonly (number | null)[];
    /** The agent process sampled over the longest time: its first, last and highest RSS. */
    readonly longestLived: {
      readonly minutes: number;
      readonly firstKb: number;
      readonly lastKb: number;
      readonly maxKb: number;
    } | null;
    /** null: the API server did not answer at the end. */
    readonly restarts: number | null;
  }[];
}

const PORT = 80;
const RSS_SAMPLE_MS = 5000;
/** A fault not recovered from in this time fails the run (generous: a loaded 2-core CI machine). */
const RECOVERY_TIMEOUT_MS = 60_000;
const PROBES: PlanProbe[] = [{ port: PORT, protocol: 'TCP' }];
const NODES = ['node-1', 'node-2'];
const LABELS = ['web', 'db', 'client', 'other'];
const CNP_PATH = '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies';

const pod = (ns: string, name: string, node: string, app: string): string => `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, labels: {app: ${app}}}
spec: {nodeName: ${node}, containers: [{name: main, image: x, ports: [{containerPort: ${PORT}}]}]}
`;

/** Two namespaces, four stable pods over two nodes, two NetworkPolicies, an Admin CNP. */
export const SOAK_SCENARIO =
  `apiVersion: v1
kind: Namespace
metadata: {name: soak-a, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: soak-b, labels: {team: b}}
` +
  pod('soak-a', 'web', 'node-1', 'web') +
  pod('soak-a', 'db', 'node-2', 'db') +
  pod('soak-b', 'client', 'node-1', 'client') +
  pod('soak-b', 'other', 'node-2', 'other') +
  `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-clients, namespace: soak-a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: b}}, podSelector: {matchLabels: {app: client}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: clients-egress, namespace: soak-b}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {team: a}}}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: soak-guard}
spec:
  tier: Admin
  priority: 10
  subject:
    namespaces: {matchLabels: {team: a}}
  ingress:
  - name: others
    action: Deny
    from:
    - pods:
        namespaceSelector: {}
        podSelector: {matchLabels: {app: other}}
`;

const DB_DENY = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'db-deny', namespace: 'soak-a' },
  spec: { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'] },
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)];

function rssKb(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The objects analyze needs, for the pods being probed. */
async function snapshot(api: KubeRest, pods: readonly LivePod[]): Promise<K8sObject[]> {
  const keys = new Set(pods.map((p) => p.key));
  const [namespaces, allPods, policies, cnps] = await Promise.all([
    api.list('/api/v1/namespaces'),
    api.list('/api/v1/pods'),
    api.list('/apis/networking.k8s.io/v1/networkpolicies'),
    api.list(CNP_PATH),
  ]);
  const meta = (o: Json) =>
    o.metadata as { name: string; namespace?: string; labels?: Record<string, string> };
  return [
    ...namespaces.items
      .filter((n) => meta(n).name.startsWith('soak-'))
      .map((n) => ({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: meta(n).name, labels: meta(n).labels ?? {} },
      })),
    ...allPods.items
      .filter((p) => keys.has(`${meta(p).namespace}/${meta(p).name}`))
      .map((p) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: meta(p).name, namespace: meta(p).namespace, labels: meta(p).labels ?? {} },
        spec: { nodeName: (p.spec as Json).nodeName, containers: (p.spec as Json).containers },
        status: { phase: 'Running', podIPs: (p.status as Json).podIPs },
      })),
    ...policies.items.map((p) => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: meta(p).name, namespace: meta(p).namespace },
      spec: p.spec,
    })),
    ...cnps.items.map((p) => ({
      apiVersion: 'policy.networking.k8s.io/v1alpha2',
      kind: 'ClusterNetworkPolicy',
      metadata: { name: meta(p).name },
      spec: p.spec,
    })),
  ] as K8sObject[];
}

export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const log = opts.log ?? (() => undefined);
  const floorMs = opts.windowFloorMs ?? 1000;
  const loaded = loadScenario(SOAK_SCENARIO, 'soak.yaml');
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const { plan } = planFromScenario(loaded.scenario, [], PROBES);
  const sandbox = await Sandbox.create(plan, {
    topology: opts.topology,
    ...(opts.endpointScript ? { endpointScript: opts.endpointScript } : {}),
    enforcement: enforcement(clusterObjects(loaded.scenario), {
      ...DEFAULT_ENFORCEMENT_LAUNCH,
      agentArgv: [...DEFAULT_ENFORCEMENT_LAUNCH.agentArgv, ...(opts.agentArgs ?? [])],
    }),
    ...(opts.signal ? { signal: opts.signal } : {}),
    log,
  });
  const id = sandbox.id;
  const api = KubeRest.fromKubeconfig(sandbox.kubeconfig!);
  const agents = new AgentStatusPoller(new Map(sandbox.agentDebugSockets().map((a) => [a.node, a.socket])));
  const latency = new LatencyRecorder();
  const faultSpans = new FaultSpans();
  /** Writes being measured (by serial): when each was answered. */
  const inFlight = new Map<number, number>();
  let measureSerial = 0;
  /**
   * The window from what is known now: the p99 of the finished samples together with the time
   * every write still being measured has waited so far (a lower bound of its latency; writes a
   * fault touched meanwhile are left out, as their samples would be). Without the waiting ones a
   * slow spell would show in the p99 only after it is over.
   */
  const computeWindow = (): number => {
    const now = Date.now();
    const waiting = [...inFlight.values()]
      .filter((w) => !NODES.some((n) => faultSpans.touched(n, w, now)))
      .map((w) => now - w);
    return transitionWindow(opts.windowMs, floorMs, latency.percentileWith(99, waiting));
  };
  // Fixed for a round while it is judged (one computation per round, not per cell).
  let currentWindow = computeWindow();
  const windowNow = (): number => currentWindow;
  const transitions = new TransitionLog(windowNow);
  let minUsedMs = Infinity;
  let maxUsedMs = 0;
  let excludedDuringFaults = 0;
  let notApplied = 0;
  const churn: Record<string, number> = {};
  const faults: Record<string, number> = {};
  const faultsSkipped: Record<string, { count: number; reason: string }> = {};
  const faultResults = new Map<
    FaultKind,
    { recoveredMs: (number | null)[]; effective: number; reasons: string[] }
  >(FAULT_KINDS.map((k) => [k, { recoveredMs: [], effective: 0, reasons: [] }]));
  const count = (m: Record<string, number>, k: string): void => {
    m[k] = (m[k] ?? 0) + 1;
  };
  const examples: SoakDisagreement[] = [];
  let rounds = 0;
  let roundsAborted = 0;
  let ended = false;
  let probes = 0;
  let inside = 0;
  let deniedDelivered = 0;
  let allowedDropped = 0;
  // Every few seconds, each agent's RSS with its pid (agents are restarted during the run).
  const runStart = Date.now();
  const rssSamples = new Map<string, RssSample[]>(NODES.map((n) => [n, []]));
  const sampleRss = (): void => {
    for (const n of NODES) {
      const pid = agentPid(id, n);
      const kb = rssKb(pid);
      if (pid !== undefined && kb !== null) rssSamples.get(n)!.push({ atMs: Date.now() - runStart, pid, kb });
    }
  };
  sampleRss();
  const rssTimer = setInterval(sampleRss, RSS_SAMPLE_MS);
  const restartCount = async (node: string): Promise<number> => {
    const p = await api.get(`/api/v1/namespaces/${AGENT_NAMESPACE}/pods/${agentPodName(node)}`);
    const cs = ((p.status as Json | undefined)?.containerStatuses ?? []) as Json[];
    return Number(cs[0]?.restartCount ?? 0);
  };
  const restartsAtStart = new Map<string, number>();
  for (const n of NODES) restartsAtStart.set(n, await restartCount(n));

  const deadline = Date.now() + opts.minutes * 60_000;
  const stopped = (): boolean => ended || Date.now() >= deadline || opts.signal?.aborted === true;
  const churned: { ns: string; name: string }[] = [];
  let serial = 0;
  const background = new Set<Promise<unknown>>();
  const inBackground = (p: Promise<unknown>): void => {
    const tracked = p
      .catch((e: Error) => log(`background task failed: ${e.message}`))
      .finally(() => background.delete(tracked));
    background.add(tracked);
  };

  // ---- event-to-enforcement ------------------------------------------------------------------
  /** A write of `resource` stored at `rv`, answered at `writtenAt`: how long until the agents applied it. */
  const slowest: { kind: string; at: string; ms: number }[] = [];
  const measure = async (kind: string, resource: string, rv: string, writtenAt: number): Promise<void> => {
    const serial = measureSerial++;
    inFlight.set(serial, writtenAt);
    try {
      await measureOne(kind, resource, rv, writtenAt);
    } finally {
      inFlight.delete(serial);
    }
  };
  const measureOne = async (kind: string, resource: string, rv: string, writtenAt: number): Promise<void> => {
    const ats = await Promise.all(
      NODES.map((n) => agents.waitFor(n, (s) => hasApplied(s, resource, rv), RECOVERY_TIMEOUT_MS)),
    );
    const counted = NODES.map((n, i) => ({ n, at: ats[i] })).filter(
      (x) => !faultSpans.touched(x.n, writtenAt, x.at ?? Date.now()),
    );
    if (counted.length === 0) excludedDuringFaults++;
    else if (counted.some((x) => x.at === undefined)) {
      if (!ended) notApplied++;
    } else {
      const ms = Math.max(...counted.map((x) => x.at!)) - writtenAt;
      latency.record(ms);
      slowest.push({ kind, at: new Date(writtenAt).toISOString(), ms });
      slowest.sort((a, b) => b.ms - a.ms);
      slowest.splice(5);
    }
  };
  /** The resourceVersion a write's answer carries (a NetworkPolicy deletion answers a Status: none). */
  const writeRevision = (answer: Json): string | undefined => {
    const rv = (answer.metadata as Json | undefined)?.resourceVersion;
    return answer.kind !== 'Status' && typeof rv === 'string' && rv !== '' ? rv : undefined;
  };

  // ---- churn ---------------------------------------------------------------------------------
  /** One change; `forced`: a pod created on that node (a fault needs the agent to apply something). */
  const churnStep = async (forced?: { node: string }): Promise<void> => {
    const now = (): number => Date.now();
    const kinds = ['podCreate', 'podDelete', 'podRelabel', 'namespaceRelabel', 'policy', 'clusterPolicy'];
    let kind = pick(kinds);
    let scope: Scope = { kind: 'all' };
    if (churned.length < 3) kind = 'podCreate';
    if (churned.length > 6 && kind === 'podCreate') kind = 'podDelete';
    if (churned.length === 0 && (kind === 'podDelete' || kind === 'podRelabel')) kind = 'podCreate';
    if (forced) kind = 'podCreate';
    let answer: Json;
    let resource = 'pods';
    switch (kind) {
      case 'podCreate': {
        // soak-a: the ClusterNetworkPolicy selects its pods, so a new one there means new rules.
        const ns = forced ? 'soak-a' : pick(['soak-a', 'soak-b']);
        const name = `churn-${++serial}`;
        answer = await api.create(`/api/v1/namespaces/${ns}/pods`, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: ns, labels: { app: pick(LABELS) } },
          spec: {
            nodeName: forced?.node ?? pick(NODES),
            containers: [{ name: 'main', image: 'x', ports: [{ containerPort: PORT }] }],
          },
        });
        churned.push({ ns, name });
        scope = { kind: 'pod', key: `${ns}/${name}` };
        break;
      }
      case 'podDelete': {
        const p = churned.splice(Math.floor(Math.random() * churned.length), 1)[0];
        scope = { kind: 'pod', key: `${p.ns}/${p.name}` };
        transitions.change(scope, now());
        answer = await api.delete(`/api/v1/namespaces/${p.ns}/pods/${p.name}`);
        break;
      }
      case 'podRelabel': {
        const p = pick(churned);
        scope = { kind: 'pod', key: `${p.ns}/${p.name}` };
        transitions.change(scope, now());
        answer = await api.mergePatch(`/api/v1/namespaces/${p.ns}/pods/${p.name}`, {
          metadata: { labels: { app: pick(LABELS) } },
        });
        break;
      }
      case 'namespaceRelabel': {
        scope = { kind: 'namespace', name: 'soak-b' };
        resource = 'namespaces';
        transitions.change(scope, now());
        answer = await api.mergePatch('/api/v1/namespaces/soak-b', {
          metadata: { labels: { team: pick(['b', 'c']) } },
        });
        break;
      }
      case 'policy': {
        scope = { kind: 'namespace', name: 'soak-a' };
        resource = 'networkpolicies';
        transitions.change(scope, now());
        const exists = (
          await api.list('/apis/networking.k8s.io/v1/namespaces/soak-a/networkpolicies')
        ).items.some((p) => (p.metadata as Json).name === 'db-deny');
        if (exists)
          answer = await api.delete('/apis/networking.k8s.io/v1/namespaces/soak-a/networkpolicies/db-deny');
        else
          answer = await api.create('/apis/networking.k8s.io/v1/namespaces/soak-a/networkpolicies', DB_DENY);
        break;
      }
      default: {
        resource = 'clusternetworkpolicies';
        transitions.change(scope, now());
        const cnp = await api.get(`${CNP_PATH}/soak-guard`);
        const rule = ((cnp.spec as Json).ingress as Json[])[0];
        answer = await api.mergePatch(`${CNP_PATH}/soak-guard`, {
          spec: { ingress: [{ ...rule, action: rule.action === 'Deny' ? 'Pass' : 'Deny' }] },
        });
        break;
      }
    }
    // The write is done: the change's window starts again from here.
    const writtenAt = now();
    transitions.change(scope, writtenAt);
    count(churn, kind);
    const rv = writeRevision(answer);
    if (rv !== undefined) inBackground(measure(kind, resource, rv, writtenAt));
  };

  // ---- faults --------------------------------------------------------------------------------
  let faultTurn = 0;
  const faultLog: string[] = [];
  const faultStep = async (): Promise<void> => {
    const kinds = opts.faultKinds ?? FAULT_KINDS;
    const kind = kinds[faultTurn++ % kinds.length];
    const node = pick(NODES);
    const at = new Date().toISOString();
    const result = await injectFault(kind, node, {
      sandbox,
      api,
      agents,
      nodes: NODES,
      begin: (scope, t) => {
        const endTransition = transitions.begin(scope, t);
        const endSpan = faultSpans.begin(scope, t);
        return (end) => {
          endTransition(end);
          endSpan(end);
        };
      },
      nodeWrite: (n) => churnStep({ node: n }),
      recoveryTimeoutMs: RECOVERY_TIMEOUT_MS,
      lockHoldMs: 4000,
    });
    const r = faultResults.get(kind)!;
    if (!result.injected) {
      faultsSkipped[kind] = { count: (faultsSkipped[kind]?.count ?? 0) + 1, reason: result.reason };
      if (!r.reasons.includes(result.reason)) r.reasons.push(result.reason);
      faultLog.push(`${at} ${kind} on ${node}: skipped (${result.reason})`);
      log(`fault: ${kind} on ${node} skipped: ${result.reason}`);
      return;
    }
    count(faults, kind);
    r.recoveredMs.push(result.recoveredMs);
    if (result.effective) r.effective++;
    const line = `${at} ${kind} on ${node}: ${
      result.recoveredMs === null
        ? `NOT recovered within ${RECOVERY_TIMEOUT_MS / 1000} s`
        : `recovered in ${result.recoveredMs} ms`
    }${result.effective ? '' : ', no effect'}${result.note ? ` (${result.note})` : ''}`;
    faultLog.push(line);
    log(`fault: ${line}`);
  };

  // ---- probe rounds --------------------------------------------------------------------------
  const seen = new Set<string>();
  const probeRound = async (): Promise<void> => {
    const start = Date.now();
    const pods = await sandbox.livePods();
    for (const p of pods)
      if (!seen.has(p.key)) {
        // A pod probed for the first time: its agent may be applying it just now.
        seen.add(p.key);
        transitions.change({ kind: 'pod', key: p.key }, start);
      }
    const objects = await snapshot(api, pods);
    const expected = analyzeObjects(objects, PROBES, []);
    let report;
    try {
      report = await sandbox.probePods(pods, PROBES, { ...DEFAULT_PROBE_SETTINGS, tcpTimeoutMs: 1000 });
    } catch (e) {
      // A pod deleted between the listing and its probe: this round says nothing; the next lists again.
      roundsAborted++;
      log(`probe round abandoned: ${(e as Error).message}`);
      return;
    }
    const end = Date.now();
    currentWindow = computeWindow();
    const usedMs = currentWindow;
    minUsedMs = Math.min(minUsedMs, usedMs);
    maxUsedMs = Math.max(maxUsedMs, usedMs);
    rounds++;
    probes += report.trials;
    const ends = new Map<string, CellEnd>(
      pods.map((p) => [p.key, { key: p.key, namespace: p.key.split('/')[0], node: p.node }]),
    );
    const want = expected.probes[0]?.allowed ?? {};
    const got = report.matrix.probes[0]?.allowed ?? {};
    for (const src of Object.keys(want))
      for (const dst of Object.keys(want[src] ?? {})) {
        const w = want[src][dst];
        const g = got[src]?.[dst];
        if (g === undefined || g === w) continue;
        if (transitions.excused(ends.get(src)!, ends.get(dst)!, start, end)) {
          inside++;
          continue;
        }
        if (g) deniedDelivered++;
        else allowedDropped++;
        const where = (k: string): string => {
          const p = pods.find((x) => x.key === k);
          return `${k} on ${p?.node ?? '?'} (${p?.ipv4 ?? p?.ipv6 ?? '?'})`;
        };
        const why =
          report.failures.get(`${PORT}/TCP ${src} ${dst} v4`) ??
          report.failures.get(`${PORT}/TCP ${src} ${dst} v6`);
        if (examples.length < 20)
          examples.push({
            at: new Date(start).toISOString(),
            cell: `${src} -> ${dst}`,
            probe: g ? 'delivered' : 'dropped',
            detail: `${where(src)} -> ${where(dst)}${why ? `: ${why}` : ''}; last faults: ${faultLog.slice(-3).join('; ')}`,
          });
        log(
          `DISAGREEMENT outside the window: ${src} -> ${dst} ${g ? 'delivered, analyze denies' : 'dropped, analyze allows'}`,
        );
      }
    transitions.prune(end);
    faultSpans.prune(end - 120_000);
  };

  try {
    const churnEvery = opts.churnEveryMs ?? 1500;
    const faultEvery = opts.faultEveryMs ?? 15_000;
    const churner = (async () => {
      while (!stopped()) {
        await churnStep().catch((e: Error) => log(`churn step failed: ${e.message}`));
        await sleep(churnEvery);
      }
    })();
    // Faults on a fixed cadence (one at a time: a fault that takes long to recover delays the next).
    const faulter = (async () => {
      let next = Date.now() + faultEvery / 2;
      for (;;) {
        await sleep(Math.max(0, next - Date.now()));
        if (stopped()) break;
        await faultStep().catch((e: Error) => log(`fault failed: ${e.message}`));
        next = Math.max(next + faultEvery, Date.now());
      }
    })();
    while (!stopped()) {
      const before = rounds;
      await probeRound().catch(async (e: Error) => {
        roundsAborted++;
        log(`probe round failed: ${e.message}`);
        // The API server is away (restarting) or a pod host is: try again shortly, not in a spin.
        await sleep(250);
      });
      if (rounds !== before && rounds % 10 === 0)
        log(
          `round ${rounds}: ${probes} probes, ${deniedDelivered + allowedDropped} outside the window, ${inside} inside; window ${windowNow()} ms`,
        );
    }
    await Promise.all([churner, faulter]);
    // Measurements still waiting get a few seconds, then are dropped (not counted as not applied).
    await Promise.race([Promise.all([...background]), sleep(5000)]);
    ended = true;
    agents.cancelAll();
    await Promise.all([...background]);
    clearInterval(rssTimer);
    sampleRss();
    const runMs = Date.now() - runStart;
    const agentReports = [];
    for (const n of NODES) {
      const samples = rssSamples.get(n)!;
      const longest = longestLived(samples);
      agentReports.push({
        node: n,
        rssStartKb: samples[0] && samples[0].atMs < RSS_SAMPLE_MS ? samples[0].kb : null,
        rssEndKb: rssKb(agentPid(id, n)),
        rssPeakBySixthKb: peakByPeriod(samples, runMs, 6),
        longestLived: longest
          ? {
              minutes: Math.round((longest.toMs - longest.fromMs) / 6000) / 10,
              firstKb: longest.firstKb,
              lastKb: longest.lastKb,
              maxKb: longest.maxKb,
            }
          : null,
        restarts: await restartCount(n)
          .then((c) => c - (restartsAtStart.get(n) ?? 0))
          .catch(() => null),
      });
    }
    const faultKinds: Record<string, FaultKindReport> = {};
    for (const [kind, r] of faultResults) {
      const recovered = r.recoveredMs.filter((x): x is number => x !== null).sort((a, b) => a - b);
      faultKinds[kind] = {
        injected: r.recoveredMs.length,
        skipped: faultsSkipped[kind]?.count ?? 0,
        skipReasons: r.reasons,
        effective: r.effective,
        notRecovered: r.recoveredMs.length - recovered.length,
        recoveryP50Ms: percentile(recovered, 50) ?? null,
        recoveryMaxMs: recovered[recovered.length - 1] ?? null,
      };
    }
    return {
      topology: opts.topology,
      minutes: opts.minutes,
      windowMs: windowNow(),
      window: {
        mode: opts.windowMs === undefined ? 'measured' : 'fixed',
        floorMs: opts.windowMs === undefined ? floorMs : null,
        minUsedMs: Number.isFinite(minUsedMs) ? minUsedMs : windowNow(),
        maxUsedMs: Math.max(maxUsedMs, minUsedMs === Infinity ? windowNow() : 0),
      },
      eventToEnforcement: { ...latency.summary(), excludedDuringFaults, notApplied, slowest },
      rounds,
      roundsAborted,
      probes,
      disagreementsInsideWindow: inside,
      outsideWindow: { deniedDelivered, allowedDropped, examples },
      churn,
      faults,
      faultsSkipped,
      faultKinds,
      faultLog,
      agents: agentReports,
    };
  } finally {
    ended = true;
    clearInterval(rssTimer);
    agents.cancelAll();
    await api.close();
    if (opts.keepOnFailure && deniedDelivered + allowedDropped > 0) {
      sandbox.detach();
      log(`sandbox ${id} kept for inspection: \`palisade sandbox down --id ${id}\` removes it`);
    } else await sandbox.teardown();
  }
}
