/**
 * The soak: a live sandbox (two nodes, an agent each) under continuous churn and injected faults,
 * while a prober checks real packets against `palisade analyze` of the API state, round after
 * round, for as long as asked.
 *
 * Churn (one change every `churnEveryMs`): pods created and deleted, pods relabelled, a namespace
 * relabelled, a NetworkPolicy created and deleted, a ClusterNetworkPolicy rule switched between
 * Deny and Pass. Faults (one every `faultEveryMs`, in turn): an agent SIGKILLed (its supervisor
 * restarts it), one of Palisade's chains flushed by hand, a member of one of its sets deleted by
 * hand, every watch expired (410 Gone: the agents relist).
 *
 * Each round reads the objects, probes every pair of live pods on 80/TCP and compares each cell
 * with analyze of those objects. A cell that differs is excused only inside the transition
 * window of a change that can affect it (transitions.ts); any other is a disagreement outside the
 * window, in one of two directions: a packet analyze denies was delivered, or one it allows was
 * dropped. The report counts probes, disagreements, churn and faults, and the agents' RSS.
 */
import { readFileSync } from 'node:fs';
import { loadScenario } from '../../compiler/scenario';
import { analyzeObjects } from '../conformance/state-analysis';
import { DEFAULT_ENFORCEMENT_LAUNCH, enforcement } from '../sandbox/enforcement';
import { clusterObjects, type K8sObject } from '../sandbox/k8s-objects';
import { inNetns } from '../sandbox/netns';
import { runChecked } from '../sandbox/run';
import { planFromScenario, type PlanProbe, type Topology } from '../sandbox/plan';
import { DEFAULT_PROBE_SETTINGS } from '../sandbox/probe-run';
import { findMarkedProcesses } from '../sandbox/processes';
import { Sandbox } from '../sandbox/sandbox';
import type { LivePod } from '../sandbox/endpoints';
import { AGENT_NAMESPACE, agentPodName } from '../sandbox/live/config';
import { KubeRest, type Json } from '../sandbox/live/kube-rest';
import { type CellEnd, type Scope, TransitionLog } from './transitions';

export interface SoakOptions {
  readonly minutes: number;
  readonly topology: Topology;
  /** Transition window: a change excuses disagreements of the cells it affects for this long. */
  readonly windowMs?: number;
  readonly churnEveryMs?: number;
  readonly faultEveryMs?: number;
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

export interface SoakReport {
  readonly topology: Topology;
  readonly minutes: number;
  readonly windowMs: number;
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
  readonly faults: Readonly<Record<string, number>>;
  readonly faultsSkipped: Readonly<Record<string, number>>;
  readonly agents: readonly {
    readonly node: string;
    readonly rssStartKb: number | null;
    readonly rssEndKb: number | null;
    readonly restarts: number;
  }[];
}

const PORT = 80;
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

/** The agent process of `node` in sandbox `id` (its marker and command line). */
function agentPid(id: string, node: string): number | undefined {
  return findMarkedProcesses(id)
    .map((p) => p.pid)
    .find((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return (
          argv.includes('agent') && argv[argv.indexOf('--node-name') + 1] === node && !argv.includes('netns')
        );
      } catch {
        return false;
      }
    });
}

/** The sandbox's API server process. */
function apiServerPid(id: string): number | undefined {
  return findMarkedProcesses(id)
    .map((p) => p.pid)
    .find((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('apiserver-main');
      } catch {
        return false;
      }
    });
}

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
  const windowMs = opts.windowMs ?? 5000;
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
  const transitions = new TransitionLog(windowMs);
  const churn: Record<string, number> = {};
  const faults: Record<string, number> = {};
  const faultsSkipped: Record<string, number> = {};
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
  const rssStart = new Map(NODES.map((n) => [n, rssKb(agentPid(id, n))]));
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
  const background: Promise<unknown>[] = [];

  // ---- churn ---------------------------------------------------------------------------------
  const churnStep = async (): Promise<void> => {
    const now = (): number => Date.now();
    const kinds = ['podCreate', 'podDelete', 'podRelabel', 'namespaceRelabel', 'policy', 'clusterPolicy'];
    let kind = pick(kinds);
    let scope: Scope = { kind: 'all' };
    if (churned.length < 3) kind = 'podCreate';
    if (churned.length > 6 && kind === 'podCreate') kind = 'podDelete';
    if (churned.length === 0 && (kind === 'podDelete' || kind === 'podRelabel')) kind = 'podCreate';
    switch (kind) {
      case 'podCreate': {
        const ns = pick(['soak-a', 'soak-b']);
        const name = `churn-${++serial}`;
        await api.create(`/api/v1/namespaces/${ns}/pods`, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: ns, labels: { app: pick(LABELS) } },
          spec: {
            nodeName: pick(NODES),
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
        await api.delete(`/api/v1/namespaces/${p.ns}/pods/${p.name}`);
        break;
      }
      case 'podRelabel': {
        const p = pick(churned);
        scope = { kind: 'pod', key: `${p.ns}/${p.name}` };
        transitions.change(scope, now());
        await api.mergePatch(`/api/v1/namespaces/${p.ns}/pods/${p.name}`, {
          metadata: { labels: { app: pick(LABELS) } },
        });
        break;
      }
      case 'namespaceRelabel': {
        scope = { kind: 'namespace', name: 'soak-b' };
        transitions.change(scope, now());
        await api.mergePatch('/api/v1/namespaces/soak-b', {
          metadata: { labels: { team: pick(['b', 'c']) } },
        });
        break;
      }
      case 'policy': {
        scope = { kind: 'namespace', name: 'soak-a' };
        transitions.change(scope, now());
        const exists = (
          await api.list('/apis/networking.k8s.io/v1/namespaces/soak-a/networkpolicies')
        ).items.some((p) => (p.metadata as Json).name === 'db-deny');
        if (exists) await api.delete('/apis/networking.k8s.io/v1/namespaces/soak-a/networkpolicies/db-deny');
        else await api.create('/apis/networking.k8s.io/v1/namespaces/soak-a/networkpolicies', DB_DENY);
        break;
      }
      case 'clusterPolicy': {
        transitions.change(scope, now());
        const cnp = await api.get(`${CNP_PATH}/soak-guard`);
        const rule = ((cnp.spec as Json).ingress as Json[])[0];
        await api.mergePatch(`${CNP_PATH}/soak-guard`, {
          spec: { ingress: [{ ...rule, action: rule.action === 'Deny' ? 'Pass' : 'Deny' }] },
        });
        break;
      }
    }
    // The write is done: the change's window starts again from here.
    transitions.change(scope, now());
    count(churn, kind);
  };

  // ---- faults --------------------------------------------------------------------------------
  const nodeNs = (node: string): string => sandbox.names.nodeNs(node);
  const inNode = async (node: string, argv: string[]): Promise<string> => {
    return (await runChecked(inNetns(nodeNs(node), argv))).stdout;
  };
  const faultKinds = ['agentKill', 'chainFlush', 'setMemberDelete', 'watchExpiry'] as const;
  let faultTurn = 0;
  const faultLog: string[] = [];
  const faultStep = async (): Promise<void> => {
    const kind = faultKinds[faultTurn++ % faultKinds.length];
    const node = pick(NODES);
    switch (kind) {
      case 'agentKill': {
        const pid = agentPid(id, node);
        if (pid === undefined) return count(faultsSkipped, kind);
        const before = await restartCount(node);
        const done = transitions.begin({ kind: 'node', name: node }, Date.now());
        process.kill(pid, 'SIGKILL');
        background.push(
          (async () => {
            for (let i = 0; i < 600; i++) {
              const p = await api
                .get(`/api/v1/namespaces/${AGENT_NAMESPACE}/pods/${agentPodName(node)}`)
                .catch(() => undefined);
              const ready = ((p?.status as Json | undefined)?.conditions as Json[] | undefined)?.some(
                (c) => c.type === 'Ready' && c.status === 'True',
              );
              if (ready && (await restartCount(node)) > before) break;
              await sleep(100);
            }
            done(Date.now());
          })(),
        );
        break;
      }
      case 'chainFlush': {
        const chains = [
          ...(await inNode(node, ['iptables-save', '-t', 'filter'])).matchAll(/^:(PALISADE-[WCP]I-\S+)/gm),
        ].map((m) => m[1]);
        if (chains.length === 0) return count(faultsSkipped, kind);
        const done = transitions.begin({ kind: 'node', name: node }, Date.now());
        await inNode(node, ['iptables', '-t', 'filter', '-F', pick(chains)]);
        done(Date.now());
        break;
      }
      case 'setMemberDelete': {
        const sets = (await inNode(node, ['ipset', 'list', '-n']))
          .split('\n')
          .filter((n) => /^PALISADE-P[46]-/.test(n));
        let deleted = false;
        for (const set of sets) {
          const members =
            (await inNode(node, ['ipset', 'list', set]))
              .split('Members:\n')[1]
              ?.split('\n')
              .filter(Boolean) ?? [];
          if (members.length === 0) continue;
          const done = transitions.begin({ kind: 'node', name: node }, Date.now());
          await inNode(node, ['ipset', 'del', set, members[0].split(' ')[0]]);
          done(Date.now());
          deleted = true;
          break;
        }
        if (!deleted) return count(faultsSkipped, kind);
        break;
      }
      case 'watchExpiry': {
        // The sandbox's API server ends every watch on SIGUSR1; resuming one gets 410 Gone.
        const server = apiServerPid(id);
        if (server === undefined) return count(faultsSkipped, kind);
        const done = transitions.begin({ kind: 'all' }, Date.now());
        process.kill(server, 'SIGUSR1');
        done(Date.now());
        break;
      }
    }
    count(faults, kind);
    faultLog.push(`${new Date().toISOString()} ${kind} on ${node}`);
    log(`fault: ${kind} on ${node}`);
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
  };

  try {
    const churnEvery = opts.churnEveryMs ?? 1500;
    const faultEvery = opts.faultEveryMs ?? 20_000;
    const churner = (async () => {
      while (!stopped()) {
        await churnStep().catch((e: Error) => log(`churn step failed: ${e.message}`));
        await sleep(churnEvery);
      }
    })();
    const faulter = (async () => {
      await sleep(faultEvery / 2);
      while (!stopped()) {
        await faultStep().catch((e: Error) => log(`fault failed: ${e.message}`));
        await sleep(faultEvery);
      }
    })();
    while (!stopped()) {
      const before = rounds;
      await probeRound().catch((e: Error) => {
        roundsAborted++;
        log(`probe round failed: ${e.message}`);
      });
      if (rounds !== before && rounds % 10 === 0)
        log(
          `round ${rounds}: ${probes} probes, ${deniedDelivered + allowedDropped} outside the window, ${inside} inside`,
        );
    }
    await Promise.all([churner, faulter, ...background]);
    const agents = [];
    for (const n of NODES)
      agents.push({
        node: n,
        rssStartKb: rssStart.get(n) ?? null,
        rssEndKb: rssKb(agentPid(id, n)),
        restarts: (await restartCount(n)) - (restartsAtStart.get(n) ?? 0),
      });
    return {
      topology: opts.topology,
      minutes: opts.minutes,
      windowMs,
      rounds,
      roundsAborted,
      probes,
      disagreementsInsideWindow: inside,
      outsideWindow: { deniedDelivered, allowedDropped, examples },
      churn,
      faults,
      faultsSkipped,
      agents,
    };
  } finally {
    ended = true;
    await api.close();
    if (opts.keepOnFailure && deniedDelivered + allowedDropped > 0) {
      sandbox.detach();
      log(`sandbox ${id} kept for inspection: \`palisade sandbox down --id ${id}\` removes it`);
    } else await sandbox.teardown();
  }
}
