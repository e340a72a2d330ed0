/**
 * Cluster events for the benchmark: the single events whose cost is measured one at a time, and
 * the sustained churn stream.
 *
 * What it models: what informers deliver to the agent's model, as plain data (ClusterEvent),
 * produced from a ClusterWorld (cluster.ts) that each event also updates, so a stream stays
 * plausible: pods are created Pending, then get an address, are relabelled, are deleted and
 * give their address back; namespaces are relabelled; a few policies and cluster policies
 * come, change and go.
 *
 * How it works: every choice comes from the world's seeded Random, never from timing, so two
 * processes that replay the same calls get the same events — that is how the incremental and
 * the full run end in comparable kernels. The single events target objects whose change
 * reaches the measured node (a peer set of an active policy), so each one costs real work.
 *
 * Promise: applying the events, in order, to a model loaded with the world's initial snapshot
 * yields the world's current objects.
 */
import type {
  ClusterPolicyInfo,
  LabelSelector,
  NamespaceInfo,
  ObjectKey,
  PodInfo,
  PolicyInfo,
} from '../compiler';
import { objectKey, podIsLive, selectorMatches } from '../compiler';
import type { ModelSink } from '../agent/daemon/compilation';
import { type ClusterWorld, type Deployment, makePolicy, randomPolicyKind } from './cluster';

export type ClusterEvent =
  | {
      readonly type: 'upsertPod';
      readonly pod: PodInfo;
      /** The update changes nothing the model keeps: the agent's reflector drops it unseen. */
      readonly unchanged?: true;
    }
  | { readonly type: 'deletePod'; readonly key: ObjectKey }
  | { readonly type: 'upsertNamespace'; readonly namespace: NamespaceInfo }
  | { readonly type: 'upsertPolicy'; readonly policy: PolicyInfo }
  | { readonly type: 'deletePolicy'; readonly key: ObjectKey }
  | { readonly type: 'upsertClusterPolicy'; readonly policy: ClusterPolicyInfo }
  | { readonly type: 'deleteClusterPolicy'; readonly name: string };

export function applyEvent(sink: ModelSink, e: ClusterEvent): void {
  switch (e.type) {
    case 'upsertPod':
      return sink.upsertPod(e.pod);
    case 'deletePod':
      return sink.deletePod(e.key);
    case 'upsertNamespace':
      return sink.upsertNamespace(e.namespace);
    case 'upsertPolicy':
      return sink.upsertPolicy(e.policy);
    case 'deletePolicy':
      return sink.deletePolicy(e.key);
    case 'upsertClusterPolicy':
      return sink.upsertClusterPolicy(e.policy);
    case 'deleteClusterPolicy':
      return sink.deleteClusterPolicy(e.name);
  }
}

/** Loads the world's current objects in informer order: namespaces, pods, policies, cluster policies. */
export function loadWorld(sink: ModelSink, world: ClusterWorld): void {
  for (const ns of world.namespaces.values()) sink.upsertNamespace(ns);
  for (const p of world.pods.values()) sink.upsertPod(p);
  for (const p of world.policies.values()) sink.upsertPolicy(p);
  for (const p of world.clusterPolicies.values()) sink.upsertClusterPolicy(p);
}

// ---------------------------------------------------------------------------------------------
// World bookkeeping shared by both generators

/** Keys of the world's pods in an array, for O(1) random picks at 150,000 pods. */
class PodIndex {
  private readonly keys: ObjectKey[] = [];
  private readonly at = new Map<ObjectKey, number>();

  constructor(keys: Iterable<ObjectKey>) {
    for (const k of keys) this.add(k);
  }

  get size(): number {
    return this.keys.length;
  }

  add(k: ObjectKey): void {
    if (this.at.has(k)) return;
    this.at.set(k, this.keys.length);
    this.keys.push(k);
  }

  remove(k: ObjectKey): void {
    const i = this.at.get(k);
    if (i === undefined) return;
    const last = this.keys.pop()!;
    if (last !== k) {
      this.keys[i] = last;
      this.at.set(last, i);
    }
    this.at.delete(k);
  }

  pick(world: ClusterWorld): ObjectKey {
    return this.keys[world.rng.int(this.keys.length)];
  }
}

function putPod(world: ClusterWorld, p: PodInfo): ClusterEvent {
  world.pods.set(objectKey(p), p);
  return { type: 'upsertPod', pod: p };
}

function removePod(world: ClusterWorld, key: ObjectKey): ClusterEvent {
  const p = world.pods.get(key);
  if (p) {
    world.release(p);
    world.pods.delete(key);
  }
  return { type: 'deletePod', key };
}

function withLabel(
  labels: Readonly<Record<string, string>>,
  key: string,
  value: string,
): Record<string, string> {
  return { ...labels, [key]: value };
}

/** Toggles a label value between `base` and `base-canary` (a relabel that can be undone). */
function toggled(value: string | undefined, base: string): string {
  return value === base ? `${base}-canary` : base;
}

// ---------------------------------------------------------------------------------------------
// Single events

export const EVENT_TYPES = [
  'podAdd',
  'podDelete',
  'podRelabel',
  'namespaceRelabel',
  'policyAdd',
  'policyChange',
  'policyDelete',
  'cnpAdd',
  'cnpChange',
  'cnpDelete',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** A peer of an active policy: the selectors whose members live elsewhere in the cluster. */
interface ActivePeer {
  readonly policy: PolicyInfo;
  readonly namespaceSelector?: LabelSelector;
  readonly podSelector?: LabelSelector;
}

/** Policies that select a local pod, computed from the world (not from any compiler). */
function activePeers(world: ClusterWorld): ActivePeer[] {
  const localByNs = new Map<string, PodInfo[]>();
  for (const p of world.pods.values()) {
    if (!world.isLocal(p) || !podIsLive(p)) continue;
    let list = localByNs.get(p.namespace);
    if (!list) localByNs.set(p.namespace, (list = []));
    list.push(p);
  }
  const out: ActivePeer[] = [];
  for (const policy of world.policies.values()) {
    const local = localByNs.get(policy.namespace) ?? [];
    if (!local.some((p) => selectorMatches(policy.spec.podSelector, p.labels))) continue;
    for (const r of policy.spec.ingress ?? []) for (const peer of r.from ?? []) out.push({ policy, ...peer });
    for (const r of policy.spec.egress ?? []) for (const peer of r.to ?? []) out.push({ policy, ...peer });
  }
  return out;
}

const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

function firstMatchLabel(s: LabelSelector | undefined): [string, string] | undefined {
  const entries = Object.entries(s?.matchLabels ?? {});
  return entries.length > 0 ? entries[0] : undefined;
}

/**
 * Makes one event of each type at a time, each aimed at something the measured node enforces.
 * Relabels toggle (odd repetitions undo even ones); the added pod and policy are deleted by the
 * podDelete and policyDelete of the same repetition, so the cluster does not drift.
 */
export class SingleEvents {
  private readonly podTargets: { d: Deployment; label: [string, string] }[] = [];
  private readonly nsTargets: { ns: string; label: [string, string] }[] = [];
  private added: PodInfo | undefined;
  private policy: PolicyInfo | undefined;
  private clusterPolicy: ClusterPolicyInfo | undefined;
  private serial = 0;

  constructor(private readonly world: ClusterWorld) {
    const peers = activePeers(world);
    const withRemotePods = new Set<string>();
    for (const p of world.pods.values()) {
      if (!world.isLocal(p) && podIsLive(p))
        withRemotePods.add(`${p.namespace}/${p.labels['pod-template-hash']}`);
    }
    const seenPod = new Set<string>();
    const seenNs = new Set<string>();
    for (const peer of peers) {
      if (peer.namespaceSelector === undefined && peer.podSelector) {
        // A pod selector in the policy's own namespace: the deployments it matches.
        const label = firstMatchLabel(peer.podSelector);
        if (!label) continue;
        for (const d of world.deploymentsByNs.get(peer.policy.namespace) ?? []) {
          const labels = { app: d.app, tier: d.tier };
          if (!selectorMatches(peer.podSelector, labels) || seenPod.has(`${d.namespace}/${d.app}`)) continue;
          // The relabelled pod must already be in the model: a deployment with a remote pod.
          if (!withRemotePods.has(`${d.namespace}/${d.hash}`)) continue;
          seenPod.add(`${d.namespace}/${d.app}`);
          this.podTargets.push({ d, label });
        }
      } else if (peer.namespaceSelector) {
        // The API server owns kubernetes.io/metadata.name: a relabel cannot change it.
        const label = firstMatchLabel(peer.namespaceSelector);
        if (!label || label[0] === NAMESPACE_NAME_LABEL) continue;
        for (const ns of world.namespaces.values()) {
          if (!selectorMatches(peer.namespaceSelector, ns.labels) || seenNs.has(ns.name)) continue;
          const members = (world.deploymentsByNs.get(ns.name) ?? []).filter((d) =>
            selectorMatches(peer.podSelector, { app: d.app, tier: d.tier }),
          );
          if (members.length === 0) continue;
          seenNs.add(ns.name);
          this.nsTargets.push({ ns: ns.name, label });
        }
      }
    }
    if (this.podTargets.length === 0 || this.nsTargets.length === 0) {
      throw new Error('the cluster has no active peer set to aim single events at (size too small?)');
    }
    this.podTargets.sort((a, b) => cmp(`${a.d.namespace}/${a.d.app}`, `${b.d.namespace}/${b.d.app}`));
    this.nsTargets.sort((a, b) => cmp(a.ns, b.ns));
  }

  /** The event of `type` for repetition `rep` (0-based). */
  make(type: EventType, rep: number): ClusterEvent {
    const w = this.world;
    switch (type) {
      case 'podAdd': {
        const t = this.podTargets[rep % this.podTargets.length];
        this.added = w.newPod(t.d, { local: false, running: true });
        return putPod(w, this.added);
      }
      case 'podDelete': {
        if (!this.added) throw new Error('podDelete before podAdd');
        const key = objectKey(this.added);
        this.added = undefined;
        return removePod(w, key);
      }
      case 'podRelabel': {
        // A running remote pod of a targeted deployment leaves (or rejoins) the peer set.
        const t = this.podTargets[Math.floor(rep / 2) % this.podTargets.length];
        const pod = this.remotePodOf(t.d);
        if (!pod) throw new Error(`no remote pod of ${t.d.namespace}/${t.d.app} left to relabel`);
        const [k, v] = t.label;
        return putPod(w, { ...pod, labels: withLabel(pod.labels, k, toggled(pod.labels[k], v)) });
      }
      case 'namespaceRelabel': {
        const t = this.nsTargets[Math.floor(rep / 2) % this.nsTargets.length];
        const ns = w.namespaces.get(t.ns)!;
        const [k, v] = t.label;
        const next: NamespaceInfo = {
          name: ns.name,
          labels: withLabel(ns.labels, k, toggled(ns.labels[k], v)),
        };
        w.namespaces.set(ns.name, next);
        return { type: 'upsertNamespace', namespace: next };
      }
      case 'policyAdd': {
        const local = this.localPod(rep);
        this.policy = {
          namespace: local.namespace,
          name: `bench-allow-${this.serial++}`,
          spec: {
            podSelector: { matchLabels: { app: local.labels.app } },
            policyTypes: ['Ingress'],
            ingress: [
              {
                from: [{ podSelector: { matchLabels: { tier: 'frontend' } } }],
                ports: [{ protocol: 'TCP', port: 7000 + (rep % 100) }],
              },
            ],
          },
        };
        w.policies.set(objectKey(this.policy), this.policy);
        return { type: 'upsertPolicy', policy: this.policy };
      }
      case 'policyChange': {
        if (!this.policy) throw new Error('policyChange before policyAdd');
        const rule = this.policy.spec.ingress![0];
        this.policy = {
          ...this.policy,
          spec: {
            ...this.policy.spec,
            ingress: [{ ...rule, ports: [{ protocol: 'TCP', port: 7100, endPort: 7199 }] }],
          },
        };
        w.policies.set(objectKey(this.policy), this.policy);
        return { type: 'upsertPolicy', policy: this.policy };
      }
      case 'policyDelete': {
        if (!this.policy) throw new Error('policyDelete before policyAdd');
        const key = objectKey(this.policy);
        this.policy = undefined;
        w.policies.delete(key);
        return { type: 'deletePolicy', key };
      }
      case 'cnpAdd': {
        // An admin policy for one local pod's deployment, after every existing admin policy
        // (the pod already has one for ingress, so cnpChange below really reorders).
        const local = this.localPodWithAdminIngress(rep);
        this.clusterPolicy = {
          name: `bench-cnp-${this.serial++}`,
          tier: 'Admin',
          priority: 900,
          subject: {
            pods: {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': local.namespace } },
              podSelector: { matchLabels: { app: local.labels.app } },
            },
          },
          ingress: [
            {
              name: 'deny-debug-port',
              action: 'Deny',
              peers: [{ namespaces: {} }],
              protocols: [{ tcp: { destinationPort: { number: 7000 + (rep % 100) } } }],
            },
          ],
          egress: [],
        };
        w.clusterPolicies.set(this.clusterPolicy.name, this.clusterPolicy);
        return { type: 'upsertClusterPolicy', policy: this.clusterPolicy };
      }
      case 'cnpChange': {
        // A priority change that moves the policy ahead of every other admin policy: the pod
        // chains reorder their jumps; no cluster-policy chain is rewritten.
        if (!this.clusterPolicy) throw new Error('cnpChange before cnpAdd');
        this.clusterPolicy = { ...this.clusterPolicy, priority: 1 };
        w.clusterPolicies.set(this.clusterPolicy.name, this.clusterPolicy);
        return { type: 'upsertClusterPolicy', policy: this.clusterPolicy };
      }
      case 'cnpDelete': {
        if (!this.clusterPolicy) throw new Error('cnpDelete before cnpAdd');
        const name = this.clusterPolicy.name;
        this.clusterPolicy = undefined;
        w.clusterPolicies.delete(name);
        return { type: 'deleteClusterPolicy', name };
      }
    }
  }

  /** Like localPod, among pods some Admin policy with ingress rules already selects (by namespace). */
  private localPodWithAdminIngress(rep: number): PodInfo {
    const admins = [...this.world.clusterPolicies.values()].filter(
      (c) => c.tier === 'Admin' && c.ingress.length > 0 && c.subject.namespaces !== undefined,
    );
    const local = [...this.world.pods.values()]
      .filter((p) => {
        if (!this.world.isLocal(p) || !podIsLive(p)) return false;
        const ns = this.world.namespaces.get(p.namespace);
        return ns !== undefined && admins.some((c) => selectorMatches(c.subject.namespaces, ns.labels));
      })
      .sort((a, b) => cmp(objectKey(a), objectKey(b)));
    if (local.length === 0) throw new Error('no local pod is selected by an admin cluster policy');
    return local[rep % local.length];
  }

  /** The live remote pod of `d` with the smallest name (stable across repetitions), if any. */
  private remotePodOf(d: Deployment): PodInfo | undefined {
    let found: PodInfo | undefined;
    for (const p of this.world.pods.values()) {
      if (p.namespace !== d.namespace || p.labels['pod-template-hash'] !== d.hash) continue;
      if (this.world.isLocal(p) || !podIsLive(p)) continue;
      if (!found || p.name < found.name) found = p;
    }
    return found;
  }

  private localPod(rep: number): PodInfo {
    const local = [...this.world.pods.values()]
      .filter((p) => this.world.isLocal(p) && podIsLive(p))
      .sort((a, b) => cmp(objectKey(a), objectKey(b)));
    if (local.length === 0) throw new Error('no live pod on the measured node');
    return local[rep % local.length];
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Churn

/** The mix of a sustained churn, in relative weights (a realistic cluster: mostly pods). */
export const CHURN_MIX = {
  podCreate: 25,
  podStart: 22,
  podStatus: 15,
  podDelete: 22,
  podRelabel: 13,
  namespaceRelabel: 1,
  policyChange: 1,
  policyAdd: 0.5,
  policyDelete: 0.5,
  clusterPolicyChange: 0.2,
} as const;
export type ChurnKind = keyof typeof CHURN_MIX;

/**
 * An endless, seeded stream of cluster events in the CHURN_MIX proportions. Pods are created
 * Pending (no address), started later by a status update, sometimes updated with nothing the
 * model keeps (a readiness flip: the compiler must ignore it), relabelled, and deleted.
 */
export class ChurnStream {
  private readonly index: PodIndex;
  private readonly pending: ObjectKey[] = [];
  private readonly counts: Record<ChurnKind, number>;
  private serial = 0;

  constructor(private readonly world: ClusterWorld) {
    this.index = new PodIndex(world.pods.keys());
    this.counts = Object.fromEntries(Object.keys(CHURN_MIX).map((k) => [k, 0])) as Record<ChurnKind, number>;
  }

  /** How many events of each kind were produced so far. */
  produced(): Readonly<Record<ChurnKind, number>> {
    return { ...this.counts };
  }

  next(): ClusterEvent {
    const kind = this.world.rng.weighted(CHURN_MIX);
    this.counts[kind]++;
    return this.make(kind);
  }

  private make(kind: ChurnKind): ClusterEvent {
    const w = this.world;
    switch (kind) {
      case 'podCreate': {
        const d = w.rng.pick(w.deployments);
        const local = w.rng.chance(w.size.localPods / w.size.pods);
        const p = w.newPod(d, { local, running: false });
        this.index.add(objectKey(p));
        this.pending.push(objectKey(p));
        return putPod(w, p);
      }
      case 'podStart': {
        const key = this.pending.shift();
        const p = key === undefined ? undefined : w.pods.get(key);
        if (!p) return this.make('podStatus');
        return putPod(w, w.started(p));
      }
      case 'podStatus': {
        // A status change the model does not keep (conditions, restarts): same projection.
        const p = w.pods.get(this.index.pick(w))!;
        return { type: 'upsertPod', pod: p, unchanged: true };
      }
      case 'podDelete': {
        const key = this.index.pick(w);
        this.index.remove(key);
        const i = this.pending.indexOf(key);
        if (i >= 0) this.pending.splice(i, 1);
        return removePod(w, key);
      }
      case 'podRelabel': {
        const p = w.pods.get(this.index.pick(w))!;
        const app = p.labels.app;
        const base = app.endsWith('-canary') ? app.slice(0, -'-canary'.length) : app;
        return putPod(w, { ...p, labels: withLabel(p.labels, 'app', toggled(app, base)) });
      }
      case 'namespaceRelabel': {
        const names = [...w.namespaces.keys()];
        const ns = w.namespaces.get(w.rng.pick(names))!;
        const next: NamespaceInfo = {
          name: ns.name,
          labels: withLabel(ns.labels, 'env', ns.labels.env === 'prod' ? 'staging' : 'prod'),
        };
        w.namespaces.set(ns.name, next);
        return { type: 'upsertNamespace', namespace: next };
      }
      case 'policyChange': {
        const p = this.somePolicy();
        const ingress = p.spec.ingress;
        // Toggle a port on the first ingress rule (or add an ingress rule that allows nothing new).
        const spec =
          ingress && ingress.length > 0
            ? {
                ...p.spec,
                ingress: [
                  {
                    ...ingress[0],
                    ports: ingress[0].ports?.length ? undefined : [{ protocol: 'TCP' as const, port: 8443 }],
                  },
                  ...ingress.slice(1),
                ],
              }
            : { ...p.spec, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'nobody' } } }] }] };
        const next: PolicyInfo = { ...p, spec };
        w.policies.set(objectKey(next), next);
        return { type: 'upsertPolicy', policy: next };
      }
      case 'policyAdd': {
        const names = [...w.namespaces.values()].filter((n) => n.labels.team !== undefined);
        const ns = w.rng.pick(names);
        const p = makePolicy(w, ns, randomPolicyKind(w.rng), 1_000_000 + this.serial++);
        w.policies.set(objectKey(p), p);
        return { type: 'upsertPolicy', policy: p };
      }
      case 'policyDelete': {
        const p = this.somePolicy();
        w.policies.delete(objectKey(p));
        return { type: 'deletePolicy', key: objectKey(p) };
      }
      case 'clusterPolicyChange': {
        // An admin moves a policy up or down within its tier (a priority change).
        const list = [...w.clusterPolicies.values()];
        if (list.length === 0) return this.make('podStatus');
        const p = list[w.rng.int(list.length)];
        const next: ClusterPolicyInfo = {
          ...p,
          priority: p.priority % 2 === 0 ? p.priority + 1 : p.priority - 1,
        };
        w.clusterPolicies.set(next.name, next);
        return { type: 'upsertClusterPolicy', policy: next };
      }
    }
  }

  private somePolicy(): PolicyInfo {
    // Iterating a Map in insertion order is deterministic; skip a seeded number of entries.
    const n = this.world.rng.int(this.world.policies.size);
    let i = 0;
    for (const p of this.world.policies.values()) if (i++ === n) return p;
    throw new Error('no policy left to change');
  }
}
