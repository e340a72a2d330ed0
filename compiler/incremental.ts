/**
 * IncrementalCompiler: the cluster model and its compiled state, kept up to date event by event.
 *
 * What it models: every Namespace, Pod, Node, NetworkPolicy and ClusterNetworkPolicy of the
 * cluster (slim, model.ts), and the CompiledState (ir.ts) of the subject pods: every live pod
 * for `analyze`, the node's own pods for the agent.
 *
 * How it works: each event updates the model and, right away, exactly what it affects, found
 * through indexes rather than scans of the cluster:
 *   - a pod event changes its contributions to the active peer sets that can hold it (sets of
 *     its namespace, namespace-selector sets, named-port sets of the port names it declares),
 *     and, if it is a subject, its policy lists and the policies' activity;
 *   - a namespace relabel re-evaluates namespace-selector sets for the pods of that namespace;
 *   - a policy event recompiles that policy alone and re-selects subjects of its namespace;
 *   - a ClusterNetworkPolicy event recompiles it alone and re-selects every subject (the node's
 *     pods for the agent); a subject's change or its namespace's relabel re-tests the cluster
 *     policies (a few dozen) against it;
 *   - a node event changes its addresses' contributions to `nodes` sets;
 *   - a pod of another node whose address lies in the agent's node's pod ranges adds it to
 *     `remotePodAddresses` (a change of the ranges, rare, rescans the addresses).
 * A policy is active while it selects a subject; a peer set exists while an active policy
 * references it (reference counted) and is filled when it appears.
 *
 * Promise: after any sequence of events, state() equals what compiling the final model from
 * scratch gives (tested by replaying events in random orders), and flush() returns the net
 * difference since the previous flush.
 */
import { DeltaRecorder } from './delta-recorder';
import {
  type ClusterPolicyCompilation,
  compileClusterPolicy,
  subjectMatches,
} from './cluster-policy-compile';
import type {
  ClusterPolicyKey,
  CompileDelta,
  CompiledClusterPolicy,
  CompiledPolicy,
  CompiledState,
  PeerSet,
  PeerSetDef,
  PeerSetKey,
  PodRules,
} from './ir';
import { compareClusterPolicies } from './ir';
import { cidrMembers, nodeMembers, podMembers } from './membership';
import type {
  ClusterPolicyInfo,
  ClusterSnapshot,
  Labels,
  NamespaceInfo,
  NodeInfo,
  ObjectKey,
  PodInfo,
  PolicyInfo,
} from './model';
import { objectKey, podIsPolicyTarget } from './model';
import { compilePolicy, type PolicyCompilation } from './policy-compile';
import { selectorMatches } from './selector';
import { type ParsedCIDR, cidrContainsIP, parseCIDR, parseIP } from './validate/ip';

export interface CompilerOptions {
  /** Only pods on this node are subjects (the agent). Undefined: every pod is (analyze). */
  readonly nodeName?: string;
  /**
   * The node's pod address ranges as configured (the agent's --local-pod-cidr), canonical CIDR
   * text. Undefined or empty: the spec.podCIDRs of the Node named `nodeName`, as it is watched.
   */
  readonly localPodCIDRs?: readonly string[];
}

/** Read access to the model and the compiled state: what `verdict()` and the CLI need. */
export interface CompiledView {
  state(): CompiledState;
  pod(key: ObjectKey): PodInfo | undefined;
  /** The live, non-hostNetwork pod that owns this address, if any. */
  podByIP(ip: string): PodInfo | undefined;
  namespace(name: string): NamespaceInfo | undefined;
  policy(key: ObjectKey): PolicyInfo | undefined;
  clusterPolicy(name: ClusterPolicyKey): ClusterPolicyInfo | undefined;
  node(name: string): NodeInfo | undefined;
}

const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

interface LivePeerSet extends PeerSet {
  readonly members: Set<string>;
  /** How many (pod, address) contributions back each member: two pods may briefly share an IP. */
  readonly counts: Map<string, number>;
  refs: number;
}

function addToIndex<K, V>(index: Map<K, Set<V>>, k: K, v: V): void {
  let s = index.get(k);
  if (!s) index.set(k, (s = new Set()));
  s.add(v);
}

function removeFromIndex<K, V>(index: Map<K, Set<V>>, k: K, v: V): void {
  const s = index.get(k);
  if (s && s.delete(v) && s.size === 0) index.delete(k);
}

function labelsEqual(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k] || !(k in b)) return false;
  return true;
}

function arraysEqual<T>(
  a: readonly T[],
  b: readonly T[],
  eq: (x: T, y: T) => boolean = (x, y) => x === y,
): boolean {
  return a.length === b.length && a.every((x, i) => eq(x, b[i]));
}

function podsEqual(a: PodInfo, b: PodInfo): boolean {
  return (
    a.nodeName === b.nodeName &&
    a.phase === b.phase &&
    a.hostNetwork === b.hostNetwork &&
    arraysEqual(a.ips, b.ips) &&
    labelsEqual(a.labels, b.labels) &&
    arraysEqual(
      a.namedPorts,
      b.namedPorts,
      (x, y) => x.name === y.name && x.port === y.port && x.protocol === y.protocol,
    )
  );
}

function podRulesEqual(a: PodRules, b: PodRules): boolean {
  return (
    a.nodeName === b.nodeName &&
    arraysEqual(a.ips, b.ips) &&
    arraysEqual(a.ingress, b.ingress) &&
    arraysEqual(a.egress, b.egress) &&
    arraysEqual(a.adminIngress, b.adminIngress) &&
    arraysEqual(a.adminEgress, b.adminEgress) &&
    arraysEqual(a.baselineIngress, b.baselineIngress) &&
    arraysEqual(a.baselineEgress, b.baselineEgress)
  );
}

function nodesEqual(a: NodeInfo, b: NodeInfo): boolean {
  return (
    labelsEqual(a.labels, b.labels) &&
    arraysEqual(a.addresses, b.addresses) &&
    arraysEqual(a.podCIDRs, b.podCIDRs)
  );
}

const EMPTY: ReadonlySet<string> = new Set<string>();

export class IncrementalCompiler implements CompiledView {
  private readonly nodeName: string | undefined;

  // The model.
  private readonly nsMap = new Map<string, NamespaceInfo>();
  private readonly podMap = new Map<ObjectKey, PodInfo>();
  private readonly podsByNs = new Map<string, Set<ObjectKey>>();
  private readonly podsByPortName = new Map<string, Set<ObjectKey>>();
  /**
   * Address → owning pod. Almost always one owner, so a plain key; a Set only while two live
   * pods share an address (a reused IP before the old pod's deletion arrives). At 150,000 pods
   * a Set per address costs ~35 MB more than this.
   */
  private readonly ipOwners = new Map<string, ObjectKey | Set<ObjectKey>>();
  private readonly policyMap = new Map<ObjectKey, PolicyInfo>();
  private readonly compilations = new Map<ObjectKey, PolicyCompilation>();
  private readonly policiesByNs = new Map<string, Set<ObjectKey>>();
  private readonly nodeMap = new Map<string, NodeInfo>();
  private readonly clusterPolicyMap = new Map<ClusterPolicyKey, ClusterPolicyInfo>();
  private readonly clusterCompilations = new Map<ClusterPolicyKey, ClusterPolicyCompilation>();

  // Subjects and their policies.
  private readonly subjectsByNs = new Map<string, Set<ObjectKey>>();
  private readonly podRules = new Map<ObjectKey, PodRules>();
  private readonly selections = new Map<ObjectKey, Set<ObjectKey>>();
  private readonly activePolicies = new Map<ObjectKey, CompiledPolicy>();
  private readonly clusterSelections = new Map<ClusterPolicyKey, Set<ObjectKey>>();
  private readonly activeClusterPolicies = new Map<ClusterPolicyKey, CompiledClusterPolicy>();

  // Peer sets referenced by active policies, and the indexes that find the ones a pod may join.
  private readonly peerSets = new Map<PeerSetKey, LivePeerSet>();
  private readonly podSetsByNs = new Map<string, Set<PeerSetKey>>();
  private readonly nsSelectorSets = new Set<PeerSetKey>();
  private readonly namedSetsByName = new Map<string, Set<PeerSetKey>>();
  private readonly nodeSets = new Set<PeerSetKey>();

  private readonly delta = new DeltaRecorder();
  private readonly compiledState: CompiledState;
  /** Configured pod CIDRs: when set, the Node's spec.podCIDRs are not consulted. */
  private readonly configuredPodCIDRs: readonly string[] | undefined;
  private localPodCIDRs: readonly string[] = [];
  /** localPodCIDRs, parsed. */
  private localRanges: readonly ParsedCIDR[] = [];
  /**
   * Addresses inside the local ranges held by pods that are not subjects (pods of other nodes),
   * with how many such pods hold each: CompiledState.remotePodAddresses is the key set.
   */
  private readonly remoteOwners = new Map<string, number>();
  private readonly remoteAddresses = new Set<string>();

  constructor(opts: CompilerOptions = {}) {
    this.nodeName = opts.nodeName;
    const configured =
      opts.localPodCIDRs && opts.localPodCIDRs.length > 0 ? [...opts.localPodCIDRs] : undefined;
    this.configuredPodCIDRs = configured;
    if (configured && opts.nodeName !== undefined) {
      this.localPodCIDRs = configured;
      this.localRanges = parseRanges(configured);
    }
    const localPodCIDRs = (): readonly string[] => this.localPodCIDRs;
    this.compiledState = {
      pods: this.podRules,
      policies: this.activePolicies,
      clusterPolicies: this.activeClusterPolicies,
      peerSets: this.peerSets,
      remotePodAddresses: this.remoteAddresses,
      get localPodCIDRs(): readonly string[] {
        return localPodCIDRs();
      },
    };
  }

  // ---- read access -------------------------------------------------------------------------

  state(): CompiledState {
    return this.compiledState;
  }

  pod(key: ObjectKey): PodInfo | undefined {
    return this.podMap.get(key);
  }

  podByIP(ip: string): PodInfo | undefined {
    const owners = this.ipOwners.get(ip);
    if (owners === undefined) return undefined;
    if (typeof owners === 'string') return this.podMap.get(owners);
    for (const k of owners) return this.podMap.get(k);
    return undefined;
  }

  namespace(name: string): NamespaceInfo | undefined {
    return this.nsMap.get(name);
  }

  policy(key: ObjectKey): PolicyInfo | undefined {
    return this.policyMap.get(key);
  }

  pods(): IterableIterator<PodInfo> {
    return this.podMap.values();
  }

  namespaces(): IterableIterator<NamespaceInfo> {
    return this.nsMap.values();
  }

  policies(): IterableIterator<PolicyInfo> {
    return this.policyMap.values();
  }

  clusterPolicy(name: ClusterPolicyKey): ClusterPolicyInfo | undefined {
    return this.clusterPolicyMap.get(name);
  }

  clusterPolicies(): IterableIterator<ClusterPolicyInfo> {
    return this.clusterPolicyMap.values();
  }

  node(name: string): NodeInfo | undefined {
    return this.nodeMap.get(name);
  }

  nodes(): IterableIterator<NodeInfo> {
    return this.nodeMap.values();
  }

  /** Brings nothing up to date (every event already did); returns the net change since the last flush. */
  flush(): CompileDelta {
    return this.delta.take();
  }

  // ---- namespaces --------------------------------------------------------------------------

  upsertNamespace(input: NamespaceInfo): void {
    // The API server sets this label on every namespace; scenarios and tests may omit it.
    const ns: NamespaceInfo =
      input.labels[NAMESPACE_NAME_LABEL] === input.name
        ? input
        : { name: input.name, labels: { ...input.labels, [NAMESPACE_NAME_LABEL]: input.name } };
    const old = this.nsMap.get(ns.name);
    if (old && labelsEqual(old.labels, ns.labels)) return;
    this.nsMap.set(ns.name, ns);
    this.namespaceLabelsChanged(ns.name, old, ns);
  }

  deleteNamespace(name: string): void {
    const old = this.nsMap.get(name);
    if (!old) return;
    this.nsMap.delete(name);
    this.namespaceLabelsChanged(name, old, undefined);
  }

  private namespaceLabelsChanged(
    name: string,
    before: NamespaceInfo | undefined,
    after: NamespaceInfo | undefined,
  ) {
    const pods = this.podsByNs.get(name);
    if (!pods) return;
    for (const key of this.nsSelectorSets) {
      const set = this.peerSets.get(key)!;
      const def = set.def as PeerSetDef & { kind: 'pods' };
      const was = before !== undefined && selectorMatches(def.namespaceSelector, before.labels);
      const is = after !== undefined && selectorMatches(def.namespaceSelector, after.labels);
      if (was === is) continue;
      for (const podKey of pods) {
        const pod = this.podMap.get(podKey)!;
        if (was) this.contribute(set, podMembers(def, pod, before, this.isSubject(pod)), -1);
        if (is) this.contribute(set, podMembers(def, pod, after, this.isSubject(pod)), +1);
      }
    }
    // Then subjects of this namespace may enter or leave ClusterNetworkPolicy subjects. After the
    // sets above: a set a newly selected policy acquires is filled from the model as it is now,
    // and must not be counted twice.
    for (const podKey of [...(this.subjectsByNs.get(name) ?? EMPTY)]) {
      if (this.reselectClusterPolicies(podKey)) this.refreshPodRules(podKey);
    }
  }

  // ---- pods --------------------------------------------------------------------------------

  private isSubject(p: PodInfo): boolean {
    return podIsPolicyTarget(p) && (this.nodeName === undefined || p.nodeName === this.nodeName);
  }

  upsertPod(pod: PodInfo): void {
    const key = objectKey(pod);
    const old = this.podMap.get(key);
    if (old && podsEqual(old, pod)) return;
    if (old) this.unindexPod(key, old);
    this.podMap.set(key, pod);
    this.indexPod(key, pod);
    this.subjectChanged(key, old, pod);
  }

  deletePod(key: ObjectKey): void {
    const old = this.podMap.get(key);
    if (!old) return;
    this.unindexPod(key, old);
    this.podMap.delete(key);
    this.subjectChanged(key, old, undefined);
  }

  private indexPod(key: ObjectKey, pod: PodInfo): void {
    addToIndex(this.podsByNs, pod.namespace, key);
    for (const np of pod.namedPorts) addToIndex(this.podsByPortName, np.name, key);
    if (podIsPolicyTarget(pod)) for (const ip of pod.ips) this.addOwner(ip, key);
    this.remoteContributions(pod, +1);
    this.podContributions(pod, +1);
  }

  private unindexPod(key: ObjectKey, pod: PodInfo): void {
    this.podContributions(pod, -1);
    removeFromIndex(this.podsByNs, pod.namespace, key);
    for (const np of pod.namedPorts) removeFromIndex(this.podsByPortName, np.name, key);
    if (podIsPolicyTarget(pod)) for (const ip of pod.ips) this.removeOwner(ip, key);
    this.remoteContributions(pod, -1);
  }

  /**
   * A pod the model knows on another node, at an address of the local ranges: that address is
   * not a new pod of this node. Work per event: the pod's addresses against one or two ranges.
   */
  private remoteContributions(pod: PodInfo, sign: 1 | -1): void {
    if (this.localRanges.length === 0 || !podIsPolicyTarget(pod) || this.isSubject(pod)) return;
    for (const ip of pod.ips) {
      if (!inRanges(ip, this.localRanges)) continue;
      const n = (this.remoteOwners.get(ip) ?? 0) + sign;
      if (n > 0) this.remoteOwners.set(ip, n);
      else this.remoteOwners.delete(ip);
      if (n === 1 && sign > 0) {
        this.remoteAddresses.add(ip);
        this.delta.remoteAddressAdded(ip);
      } else if (n === 0) {
        this.remoteAddresses.delete(ip);
        this.delta.remoteAddressRemoved(ip);
      }
    }
  }

  private addOwner(ip: string, key: ObjectKey): void {
    const owners = this.ipOwners.get(ip);
    if (owners === undefined || owners === key) this.ipOwners.set(ip, key);
    else if (typeof owners === 'string') this.ipOwners.set(ip, new Set([owners, key]));
    else owners.add(key);
  }

  private removeOwner(ip: string, key: ObjectKey): void {
    const owners = this.ipOwners.get(ip);
    if (owners === undefined) return;
    if (typeof owners === 'string') {
      if (owners === key) this.ipOwners.delete(ip);
      return;
    }
    owners.delete(key);
    if (owners.size === 1) this.ipOwners.set(ip, owners.values().next().value!);
  }

  /** Adds (+1) or withdraws (-1) the pod's members in every active set that can hold it. */
  private podContributions(pod: PodInfo, sign: 1 | -1): void {
    if (!podIsPolicyTarget(pod)) return;
    const ns = this.nsMap.get(pod.namespace);
    const subject = this.isSubject(pod);
    for (const key of this.podSetsByNs.get(pod.namespace) ?? EMPTY) {
      const set = this.peerSets.get(key)!;
      this.contribute(set, podMembers(set.def, pod, ns, subject), sign);
    }
    for (const key of this.nsSelectorSets) {
      const set = this.peerSets.get(key)!;
      this.contribute(set, podMembers(set.def, pod, ns, subject), sign);
    }
    for (const np of pod.namedPorts) {
      for (const key of this.namedSetsByName.get(np.name) ?? EMPTY) {
        const set = this.peerSets.get(key)!;
        // A pod may declare the name for two protocols; only this set's protocol counts, once.
        if ((set.def as { protocol: string }).protocol !== np.protocol) continue;
        this.contribute(set, podMembers(set.def, pod, ns, subject), sign);
      }
    }
  }

  private contribute(set: LivePeerSet, members: readonly string[], sign: 1 | -1): void {
    for (const m of members) {
      const before = set.counts.get(m) ?? 0;
      const n = before + sign;
      if (n > 0) {
        set.counts.set(m, n);
        if (before === 0) {
          set.members.add(m);
          this.delta.memberAdded(set.key, m);
        }
      } else if (before > 0) {
        set.counts.delete(m);
        set.members.delete(m);
        this.delta.memberRemoved(set.key, m);
      }
    }
  }

  /** Re-derives everything that depends on whether and how `key` is a subject. */
  private subjectChanged(key: ObjectKey, before: PodInfo | undefined, after: PodInfo | undefined): void {
    const was = before !== undefined && this.isSubject(before);
    const is = after !== undefined && this.isSubject(after);
    if (!was && !is) return;
    const oldPolicies: ObjectKey[] = [];
    if (was) {
      removeFromIndex(this.subjectsByNs, before!.namespace, key);
      for (const pk of this.policiesByNs.get(before!.namespace) ?? EMPTY) {
        if (this.selections.get(pk)?.has(key)) oldPolicies.push(pk);
      }
    }
    const newPolicies = new Set<ObjectKey>();
    if (is) {
      addToIndex(this.subjectsByNs, after!.namespace, key);
      for (const pk of this.policiesByNs.get(after!.namespace) ?? EMPTY) {
        if (selectorMatches(this.policyMap.get(pk)!.spec.podSelector, after!.labels)) newPolicies.add(pk);
      }
    }
    // Select before unselecting, so a policy (and its sets) that still applies never flickers out.
    for (const pk of newPolicies) this.select(pk, key);
    for (const pk of oldPolicies) if (!newPolicies.has(pk)) this.unselect(pk, key);
    this.reselectClusterPolicies(key);
    this.refreshPodRules(key);
  }

  /**
   * Re-tests every ClusterNetworkPolicy's subject against the pod `key` (a subject or not) and
   * updates the selections; returns whether any changed.
   */
  private reselectClusterPolicies(key: ObjectKey): boolean {
    const pod = this.podMap.get(key);
    const ns = pod ? this.nsMap.get(pod.namespace) : undefined;
    const subject = pod !== undefined && this.isSubject(pod);
    const wanted: ClusterPolicyKey[] = [];
    const dropped: ClusterPolicyKey[] = [];
    for (const [ck, c] of this.clusterPolicyMap) {
      const is = subject && ns !== undefined && subjectMatches(c.subject, ns.labels, pod.labels);
      const was = this.clusterSelections.get(ck)?.has(key) ?? false;
      if (is && !was) wanted.push(ck);
      else if (was && !is) dropped.push(ck);
    }
    for (const ck of wanted) this.clusterSelect(ck, key);
    for (const ck of dropped) this.clusterUnselect(ck, key);
    return wanted.length > 0 || dropped.length > 0;
  }

  private clusterSelect(ck: ClusterPolicyKey, podKey: ObjectKey): void {
    let sel = this.clusterSelections.get(ck);
    if (!sel) this.clusterSelections.set(ck, (sel = new Set()));
    if (sel.has(podKey)) return;
    sel.add(podKey);
    if (sel.size === 1) {
      const c = this.clusterCompilations.get(ck)!;
      this.activeClusterPolicies.set(ck, c.compiled);
      for (const [setKey, def] of c.peerSets) this.acquireSet(setKey, def);
      this.delta.clusterPolicy(ck);
    }
  }

  private clusterUnselect(ck: ClusterPolicyKey, podKey: ObjectKey): void {
    const sel = this.clusterSelections.get(ck);
    if (!sel || !sel.delete(podKey)) return;
    if (sel.size === 0) {
      this.clusterSelections.delete(ck);
      const c = this.clusterCompilations.get(ck)!;
      this.activeClusterPolicies.delete(ck);
      for (const setKey of c.peerSets.keys()) this.releaseSet(setKey);
      this.delta.clusterPolicy(ck);
    }
  }

  private select(policyKey: ObjectKey, podKey: ObjectKey): void {
    let sel = this.selections.get(policyKey);
    if (!sel) this.selections.set(policyKey, (sel = new Set()));
    if (sel.has(podKey)) return;
    sel.add(podKey);
    if (sel.size === 1) this.activate(policyKey);
  }

  private unselect(policyKey: ObjectKey, podKey: ObjectKey): void {
    const sel = this.selections.get(policyKey);
    if (!sel || !sel.delete(podKey)) return;
    if (sel.size === 0) {
      this.selections.delete(policyKey);
      this.deactivate(policyKey);
    }
  }

  /** Recomputes a subject's policy lists from the policies of its namespace. */
  private refreshPodRules(key: ObjectKey): void {
    const pod = this.podMap.get(key);
    const old = this.podRules.get(key);
    if (!pod || !this.isSubject(pod)) {
      if (old) {
        this.podRules.delete(key);
        this.delta.pod(key);
      }
      return;
    }
    const ingress: ObjectKey[] = [];
    const egress: ObjectKey[] = [];
    for (const pk of this.policiesByNs.get(pod.namespace) ?? EMPTY) {
      if (!this.selections.get(pk)?.has(key)) continue;
      const c = this.compilations.get(pk)!.compiled;
      if (c.ingress !== null) ingress.push(pk);
      if (c.egress !== null) egress.push(pk);
    }
    ingress.sort();
    egress.sort();
    const tiers = { adminIngress: [], adminEgress: [], baselineIngress: [], baselineEgress: [] } as Record<
      'adminIngress' | 'adminEgress' | 'baselineIngress' | 'baselineEgress',
      CompiledClusterPolicy[]
    >;
    for (const [ck, c] of this.activeClusterPolicies) {
      if (!this.clusterSelections.get(ck)?.has(key)) continue;
      if (c.ingress !== null) tiers[c.tier === 'admin' ? 'adminIngress' : 'baselineIngress'].push(c);
      if (c.egress !== null) tiers[c.tier === 'admin' ? 'adminEgress' : 'baselineEgress'].push(c);
    }
    const ordered = (cs: CompiledClusterPolicy[]): ClusterPolicyKey[] =>
      cs.sort(compareClusterPolicies).map((c) => c.key);
    const rules: PodRules = {
      key,
      namespace: pod.namespace,
      name: pod.name,
      nodeName: pod.nodeName,
      ips: pod.ips,
      ingress,
      egress,
      adminIngress: ordered(tiers.adminIngress),
      adminEgress: ordered(tiers.adminEgress),
      baselineIngress: ordered(tiers.baselineIngress),
      baselineEgress: ordered(tiers.baselineEgress),
    };
    if (old && podRulesEqual(old, rules)) return;
    this.podRules.set(key, rules);
    this.delta.pod(key);
  }

  // ---- policies ----------------------------------------------------------------------------

  upsertPolicy(p: PolicyInfo): void {
    const key = objectKey(p);
    const old = this.policyMap.get(key);
    if (old && JSON.stringify(old.spec) === JSON.stringify(p.spec) && !old.audit === !p.audit) return;
    const before = this.selections.get(key) ?? EMPTY;
    const oldCompilation = this.compilations.get(key);
    const compilation = compilePolicy(p);
    this.policyMap.set(key, p);
    this.compilations.set(key, compilation);
    addToIndex(this.policiesByNs, p.namespace, key);
    const after = new Set<ObjectKey>();
    for (const podKey of this.subjectsByNs.get(p.namespace) ?? EMPTY) {
      if (selectorMatches(p.spec.podSelector, this.podMap.get(podKey)!.labels)) after.add(podKey);
    }
    // Acquire the new version's sets before releasing the old one's: sets both use stay untouched.
    if (after.size > 0) {
      this.selections.set(key, after);
      this.activePolicies.set(key, compilation.compiled);
      for (const [setKey, def] of compilation.peerSets) this.acquireSet(setKey, def);
    } else {
      this.selections.delete(key);
      this.activePolicies.delete(key);
    }
    if (before.size > 0 && oldCompilation) {
      for (const setKey of oldCompilation.peerSets.keys()) this.releaseSet(setKey);
    }
    if (before.size > 0 || after.size > 0) this.delta.policy(key);
    for (const podKey of before) this.refreshPodRules(podKey);
    for (const podKey of after) if (!before.has(podKey)) this.refreshPodRules(podKey);
    // Entering or leaving audit mode changes what the pods' chains enforce, not their lists.
    if (old && !old.audit !== !p.audit) for (const podKey of after) this.delta.pod(podKey);
  }

  deletePolicy(key: ObjectKey): void {
    const p = this.policyMap.get(key);
    if (!p) return;
    const before = this.selections.get(key) ?? EMPTY;
    if (before.size > 0) this.deactivate(key);
    this.selections.delete(key);
    this.policyMap.delete(key);
    this.compilations.delete(key);
    removeFromIndex(this.policiesByNs, p.namespace, key);
    for (const podKey of before) this.refreshPodRules(podKey);
  }

  private activate(policyKey: ObjectKey): void {
    const c = this.compilations.get(policyKey)!;
    this.activePolicies.set(policyKey, c.compiled);
    for (const [setKey, def] of c.peerSets) this.acquireSet(setKey, def);
    this.delta.policy(policyKey);
  }

  private deactivate(policyKey: ObjectKey): void {
    const c = this.compilations.get(policyKey)!;
    this.activePolicies.delete(policyKey);
    for (const setKey of c.peerSets.keys()) this.releaseSet(setKey);
    this.delta.policy(policyKey);
  }

  // ---- cluster network policies ------------------------------------------------------------

  upsertClusterPolicy(c: ClusterPolicyInfo): void {
    const key = c.name;
    const old = this.clusterPolicyMap.get(key);
    if (old && JSON.stringify(old) === JSON.stringify(c)) return;
    const before = this.clusterSelections.get(key) ?? EMPTY;
    const oldCompilation = this.clusterCompilations.get(key);
    const compilation = compileClusterPolicy(c);
    this.clusterPolicyMap.set(key, c);
    this.clusterCompilations.set(key, compilation);
    const after = new Set<ObjectKey>();
    for (const [nsName, subjects] of this.subjectsByNs) {
      const ns = this.nsMap.get(nsName);
      if (!ns) continue;
      for (const podKey of subjects) {
        if (subjectMatches(c.subject, ns.labels, this.podMap.get(podKey)!.labels)) after.add(podKey);
      }
    }
    // Acquire the new version's sets before releasing the old one's: sets both use stay untouched.
    if (after.size > 0) {
      this.clusterSelections.set(key, after);
      this.activeClusterPolicies.set(key, compilation.compiled);
      for (const [setKey, def] of compilation.peerSets) this.acquireSet(setKey, def);
    } else {
      this.clusterSelections.delete(key);
      this.activeClusterPolicies.delete(key);
    }
    if (before.size > 0 && oldCompilation) {
      for (const setKey of oldCompilation.peerSets.keys()) this.releaseSet(setKey);
    }
    if (before.size > 0 || after.size > 0) this.delta.clusterPolicy(key);
    for (const podKey of before) this.refreshPodRules(podKey);
    for (const podKey of after) if (!before.has(podKey)) this.refreshPodRules(podKey);
    // Entering or leaving audit mode changes what the pods' chains enforce, not their lists.
    if (old && !old.audit !== !c.audit) for (const podKey of after) this.delta.pod(podKey);
  }

  deleteClusterPolicy(key: ClusterPolicyKey): void {
    if (!this.clusterPolicyMap.has(key)) return;
    const before = this.clusterSelections.get(key) ?? EMPTY;
    if (before.size > 0) {
      const c = this.clusterCompilations.get(key)!;
      this.activeClusterPolicies.delete(key);
      for (const setKey of c.peerSets.keys()) this.releaseSet(setKey);
      this.delta.clusterPolicy(key);
    }
    this.clusterSelections.delete(key);
    this.clusterPolicyMap.delete(key);
    this.clusterCompilations.delete(key);
    for (const podKey of before) this.refreshPodRules(podKey);
  }

  // ---- nodes -------------------------------------------------------------------------------

  upsertNode(node: NodeInfo): void {
    const old = this.nodeMap.get(node.name);
    if (old && nodesEqual(old, node)) return;
    this.nodeMap.set(node.name, node);
    if (node.name === this.nodeName) this.ownNodeChanged(node);
    for (const key of this.nodeSets) {
      const set = this.peerSets.get(key)!;
      // Add before withdrawing: an address the node keeps never leaves the set.
      this.contribute(set, nodeMembers(set.def, node), +1);
      if (old) this.contribute(set, nodeMembers(set.def, old), -1);
    }
  }

  deleteNode(name: string): void {
    const old = this.nodeMap.get(name);
    if (!old) return;
    this.nodeMap.delete(name);
    if (name === this.nodeName) this.ownNodeChanged(undefined);
    for (const key of this.nodeSets)
      this.contribute(this.peerSets.get(key)!, nodeMembers(this.peerSets.get(key)!.def, old), -1);
  }

  /**
   * The agent's own Node came, changed or went: its spec.podCIDRs are the local pod ranges,
   * unless they were configured. A Node that goes keeps nothing: no range, nothing fails closed.
   */
  private ownNodeChanged(node: NodeInfo | undefined): void {
    if (this.configuredPodCIDRs) return;
    const next = node?.podCIDRs ?? [];
    if (arraysEqual(next, this.localPodCIDRs)) return;
    this.localPodCIDRs = [...next];
    this.delta.localPodCIDRsChanged();
    this.rescanRemoteAddresses();
  }

  /**
   * The local ranges changed (the Node arrived, or its podCIDRs changed: rare): every pod's
   * contribution to remotePodAddresses again, one pass over the pods.
   */
  private rescanRemoteAddresses(): void {
    const before = new Set(this.remoteAddresses);
    this.localRanges = parseRanges(this.localPodCIDRs);
    this.remoteOwners.clear();
    this.remoteAddresses.clear();
    if (this.localRanges.length > 0) {
      for (const pod of this.podMap.values()) {
        if (!podIsPolicyTarget(pod) || this.isSubject(pod)) continue;
        for (const ip of pod.ips) {
          if (!inRanges(ip, this.localRanges)) continue;
          this.remoteOwners.set(ip, (this.remoteOwners.get(ip) ?? 0) + 1);
          this.remoteAddresses.add(ip);
        }
      }
    }
    for (const ip of this.remoteAddresses) if (!before.has(ip)) this.delta.remoteAddressAdded(ip);
    for (const ip of before) if (!this.remoteAddresses.has(ip)) this.delta.remoteAddressRemoved(ip);
  }

  // ---- peer sets ---------------------------------------------------------------------------

  private acquireSet(key: PeerSetKey, def: PeerSetDef): void {
    const existing = this.peerSets.get(key);
    if (existing) {
      existing.refs++;
      return;
    }
    const set: LivePeerSet = { key, def, members: new Set(), counts: new Map(), refs: 1 };
    this.peerSets.set(key, set);
    this.delta.peerSet(key);
    switch (def.kind) {
      case 'cidr':
        for (const m of cidrMembers(def)) {
          set.members.add(m);
          set.counts.set(m, 1);
        }
        break;
      case 'pods':
        if (def.namespaceSelector !== undefined) {
          this.nsSelectorSets.add(key);
          for (const ns of this.nsMap.values()) {
            if (selectorMatches(def.namespaceSelector, ns.labels))
              this.fillFrom(set, this.podsByNs.get(ns.name));
          }
        } else {
          addToIndex(this.podSetsByNs, def.namespace!, key);
          this.fillFrom(set, this.podsByNs.get(def.namespace!));
        }
        break;
      case 'namedPort':
        addToIndex(this.namedSetsByName, def.name, key);
        this.fillFrom(set, this.podsByPortName.get(def.name));
        break;
      case 'nodes':
        this.nodeSets.add(key);
        for (const node of this.nodeMap.values()) this.contribute(set, nodeMembers(def, node), +1);
        break;
    }
  }

  private fillFrom(set: LivePeerSet, podKeys: ReadonlySet<ObjectKey> | undefined): void {
    for (const podKey of podKeys ?? EMPTY) {
      const pod = this.podMap.get(podKey)!;
      this.contribute(set, podMembers(set.def, pod, this.nsMap.get(pod.namespace), this.isSubject(pod)), +1);
    }
  }

  private releaseSet(key: PeerSetKey): void {
    const set = this.peerSets.get(key)!;
    if (--set.refs > 0) return;
    this.peerSets.delete(key);
    this.delta.peerSet(key);
    const def = set.def;
    if (def.kind === 'pods') {
      if (def.namespaceSelector !== undefined) this.nsSelectorSets.delete(key);
      else removeFromIndex(this.podSetsByNs, def.namespace!, key);
    } else if (def.kind === 'namedPort') {
      removeFromIndex(this.namedSetsByName, def.name, key);
    } else if (def.kind === 'nodes') {
      this.nodeSets.delete(key);
    }
  }
}

function parseRanges(cidrs: readonly string[]): ParsedCIDR[] {
  return cidrs.map(parseCIDR).filter((c): c is ParsedCIDR => c !== undefined);
}

function inRanges(ip: string, ranges: readonly ParsedCIDR[]): boolean {
  const parsed = parseIP(ip);
  return parsed !== undefined && ranges.some((r) => cidrContainsIP(r, parsed));
}

/** Compiles a whole snapshot: the entry point of `palisade analyze` and of tests. */
export function compileSnapshot(s: ClusterSnapshot, opts: CompilerOptions = {}): IncrementalCompiler {
  const c = new IncrementalCompiler(opts);
  for (const ns of s.namespaces) c.upsertNamespace(ns);
  for (const n of s.nodes ?? []) c.upsertNode(n);
  for (const p of s.pods) c.upsertPod(p);
  for (const p of s.policies) c.upsertPolicy(p);
  for (const p of s.clusterPolicies ?? []) c.upsertClusterPolicy(p);
  c.flush();
  return c;
}
