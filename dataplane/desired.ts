/**
 * DesiredState: the chains and sets the kernel should hold, kept up to date from the IR, for
 * either backend.
 *
 * What it models: a TablesState (model.ts) for the node's pods, plus per-object caches of what
 * each pod, policy and peer set rendered to, so a delta is applied by removing an object's old
 * output and adding its new one — work proportional to the objects the delta names. What the
 * objects render to is the backend's business (a `Renderer`: iptables/render.ts,
 * nftables/render.ts); what to re-render, reference counting and dirty marks are shared.
 *
 * How it works: `build` renders everything; `apply` re-renders the pods, policies and peer sets a
 * CompileDelta names and applies member changes one element at a time. Each change marks what it
 * touched (chain names per table, set names, set elements) so the diff engine looks only at
 * those; `takeDirty` hands the marks over and clears them.
 *
 * Promise: after build(S) or a sequence of apply() calls ending in state S, the state equals a
 * fresh build(S) (tests replay sequences to check it). Two objects that render to the same name
 * (a hash collision) are refused with an error rather than silently merged.
 */
import type {
  CompileDelta,
  CompiledClusterPolicy,
  CompiledPolicy,
  CompiledState,
  PeerSet,
  PeerSetKey,
  PodRules,
} from '../compiler/ir';
import type { IPFamily } from './api';
import { familyOf } from './ip';
import {
  type Chain,
  type HookRule,
  type KernelSet,
  type Rule,
  type TableKey,
  type TablesState,
  emptyTables,
} from './model';
import {
  CLUSTER_CHAIN_VARIANTS,
  type ClusterChainVariant,
  callTargetKey,
  parseCallTargetKey,
} from './evaluations';
import type { Direction } from './names';
import type { PolicyLookup } from './tiers';

/**
 * Addresses that fail closed like a new pod's, whatever the node's pod ranges: IPv6 link-local.
 * On a bridge a pod can send from its link-local address to another pod, and br_netfilter shows
 * that packet to the forward hook; but no pod holds the address, so the sender's egress dispatch
 * (by source address) would not match it and its egress policy would be bypassed. No pod is ever
 * "known" at such an address, so the fail-closed drops take every forwarded packet from or to one
 * (neighbour discovery is accepted before them). Routed pods cannot send such packets: the
 * kernel never forwards a link-local source.
 */
export const UNATTRIBUTABLE_RANGES: readonly string[] = ['fe80::/10'];
/** One address's entry in an isolation set: `key` is unique in the set, `element` what it holds. */
export interface IsolationEntry {
  readonly key: string;
  readonly element: string;
}

/** What one pod renders to in one family. */
export interface PodRender {
  readonly chains: Chain[];
  /** Rules for aggregated dispatch chains (iptables' PALISADE-INGRESS/EGRESS), per direction. */
  readonly dispatch: { readonly ingress: Rule[]; readonly egress: Rule[] };
  /** Entries of the isolation sets (iptables: the address; nftables: address : jump chain). */
  readonly isolated: { readonly ingress: IsolationEntry[]; readonly egress: IsolationEntry[] };
  /**
   * The policy chains the pod's chains jump to, as evaluations.ts `callTargetKey` writes them: a
   * NetworkPolicy's key, or `cnp:<variant>:<name>`.
   */
  readonly uses: readonly string[];
}

/**
 * Fail closed for new pods: an address in the node's pod ranges that no known pod holds is
 * dropped (the backend's fixed chains test both sets). DesiredState fills them: the ranges from
 * `CompiledState.localPodCIDRs`; the known addresses from the subject pods (programmed: known in
 * the sync that writes their chains) and from `CompiledState.remotePodAddresses` (pods of other
 * nodes at addresses of the ranges: known as soon as the model has them). IPv6 link-local
 * addresses count as local too (UNATTRIBUTABLE_RANGES).
 */
export interface NewPodSets {
  /** The (empty) sets of a family, roles 'local' (the pod ranges) and 'known' (known pods). */
  sets(family: IPFamily): KernelSet[];
  localSetName(family: IPFamily): string;
  knownSetName(family: IPFamily): string;
  /** The elements of the 'local' set of `family` for these ranges (other families' are ignored). */
  rangeElements(cidrs: readonly string[], family: IPFamily): string[];
  /** The element of the 'known' set for a pod address of its family. */
  knownElement(address: string): string;
}

/** A backend's rendering: IR objects to chains, rules and sets. Pure functions of their inputs. */
export interface Renderer {
  readonly families: readonly IPFamily[];
  /** Every table the backend writes. */
  readonly tables: readonly TableKey[];
  /** The table a family's chains go in. */
  tableOf(family: IPFamily): TableKey;
  /** Chains that always exist, in every table. */
  fixedChains(): Chain[];
  /** iptables: our rules in built-in chains, per table (nftables: none). */
  hooks(): ReadonlyMap<TableKey, readonly HookRule[]>;
  /** The (empty) isolation sets of a family; DesiredState fills them from the pods. */
  isolationSets(family: IPFamily): KernelSet[];
  /** nftables: the table's named objects (role `object`), fixed for the renderer's options. */
  objects?(): KernelSet[];
  isolationSetName(direction: Direction, family: IPFamily): string;
  /** iptables: a family's dispatch chain from its pods' dispatch rules (nftables: undefined). */
  dispatchChain?(family: IPFamily, direction: Direction, rules: Iterable<Rule>): Chain;
  pod(pod: PodRules, family: IPFamily, lookup: PolicyLookup): PodRender;
  policy(policy: CompiledPolicy, peerSets: ReadonlyMap<PeerSetKey, PeerSet>, family: IPFamily): Chain[];
  /** The chains of one variant of a cluster policy's chain (evaluations.ts), log point chains included. */
  clusterPolicy(
    cp: CompiledClusterPolicy,
    peerSets: ReadonlyMap<PeerSetKey, PeerSet>,
    family: IPFamily,
    variant: ClusterChainVariant,
  ): Chain[];

  /** Families a set of this peer set exists in. */
  peerSetFamilies(ps: PeerSet, families: readonly IPFamily[]): IPFamily[];
  peerSet(ps: PeerSet, family: IPFamily): KernelSet | undefined;
  /** Set elements of one raw IR member in a family ([] for another family). */
  memberEntries(ps: PeerSet, member: string, family: IPFamily): string[];
  /** Fail closed for new pods (the fixed chains hold its rules); undefined: fail open. */
  readonly newPods?: NewPodSets;
}

/**
 * What owns shared rule chains: a NetworkPolicy (its "namespace/name" key) or one variant of a
 * ClusterNetworkPolicy's chain (`cnp:<variant>:<name>`): evaluations.ts `callTargetKey`. The
 * two never collide: NetworkPolicy keys hold a "/", cluster policy names never hold ":" or "/".
 */
type PolicyRef = string;

export interface Dirty {
  /** Chain names touched, per table. */
  readonly chains: Map<TableKey, Set<string>>;
  /** Sets created, removed or re-rendered whole. */
  readonly sets: Set<string>;
  /** Single elements touched in sets that stay. */
  readonly members: Map<string, Set<string>>;
}

interface FamilyCache {
  /** Rendered output of each pod in this family. */
  readonly pods: Map<string, PodRender>;
  /** The policies each pod's chains in this family jump to. */
  readonly podPolicies: Map<string, readonly string[]>;
  /** Dispatch rules by pod, per direction. */
  readonly dispatch: Record<Direction, Map<string, Rule[]>>;
  /** Each pod's elements of the family's 'known' set (fail closed for new pods). */
  readonly known: Map<string, readonly string[]>;
}

interface ChainRef {
  readonly family: IPFamily;
  readonly table: TableKey;
  readonly name: string;
}

export class DesiredState {
  readonly tables: TablesState;
  private readonly renderer: Renderer;
  private readonly cache = new Map<IPFamily, FamilyCache>();
  /** Chains produced by each policy (all families). */
  private readonly policyChains = new Map<string, ChainRef[]>();
  /** Who owns each generated name: detects hash collisions. */
  private readonly owners = new Map<string, string>();
  private dirty: Dirty = newDirty();

  constructor(renderer: Renderer) {
    this.renderer = renderer;
    this.tables = emptyTables(renderer.tables);
    for (const c of renderer.fixedChains()) this.putChain(c, 'fixed');
    for (const [table, hooks] of renderer.hooks()) this.tables.tables.get(table)!.hooks.push(...hooks);
    for (const o of renderer.objects?.() ?? []) this.putSet(o, 'fixed');
    for (const f of renderer.families) {
      this.cache.set(f, {
        pods: new Map(),
        podPolicies: new Map(),
        dispatch: { ingress: new Map(), egress: new Map() },
        known: new Map(),
      });
      // Isolation sets first: a full-mode rewrite refills sets in this order, and an address must
      // be isolated before it is known (known and not yet isolated would pass unchecked).
      for (const s of renderer.isolationSets(f)) this.putSet(s, 'fixed');
      for (const s of renderer.newPods?.sets(f) ?? []) this.putSet(s, 'fixed');
      if (renderer.dispatchChain) {
        for (const d of ['ingress', 'egress'] as const)
          this.putChain(renderer.dispatchChain(f, d, []), 'fixed');
      }
    }
  }

  get families(): readonly IPFamily[] {
    return this.renderer.families;
  }

  /** Render a whole compiled state into a fresh DesiredState. */
  static build(state: CompiledState, renderer: Renderer): DesiredState {
    const d = new DesiredState(renderer);
    for (const ps of state.peerSets.values()) d.setPeerSet(ps);
    for (const p of state.policies.keys()) d.setPolicy(state, p);
    for (const c of state.clusterPolicies.keys()) d.setClusterPolicy(state, c);
    for (const p of state.pods.keys()) d.setPod(state, p);
    for (const f of renderer.families) d.refreshDispatch(f);
    d.setLocalPodCIDRs(state.localPodCIDRs ?? []);
    d.setRemoteKnown(state, state.remotePodAddresses ?? []);
    return d;
  }

  /** Bring the state up to date with a delta; `state` is the compiled state after it. */
  apply(state: CompiledState, delta: CompileDelta): void {
    for (const key of delta.peerSets) this.setPeerSet(state.peerSets.get(key), key);
    for (const [key, change] of delta.members) {
      if (delta.peerSets.has(key)) continue;
      const ps = state.peerSets.get(key);
      if (ps) this.changeMembers(ps, [...change.added, ...change.removed]);
    }
    for (const key of delta.policies) this.setPolicy(state, key);
    for (const key of delta.clusterPolicies) this.setClusterPolicy(state, key);
    const touchedDispatch = new Set<IPFamily>();
    for (const key of delta.pods) {
      for (const f of this.setPod(state, key)) touchedDispatch.add(f);
    }
    for (const f of touchedDispatch) this.refreshDispatch(f);
    // One or two ranges: comparing them on every delta costs nothing.
    this.setLocalPodCIDRs(state.localPodCIDRs ?? []);
    const remote = delta.remotePodAddresses;
    if (remote) this.setRemoteKnown(state, [...remote.added, ...remote.removed]);
  }

  takeDirty(): Dirty {
    const d = this.dirty;
    this.dirty = newDirty();
    return d;
  }

  // -------------------------------------------------------------------------------------------

  private claim(name: string, owner: string): void {
    const prev = this.owners.get(name);
    if (prev !== undefined && prev !== owner) {
      throw new Error(`name collision: ${name} is rendered by both ${prev} and ${owner}`);
    }
    this.owners.set(name, owner);
  }

  private putChain(c: Chain, owner: string): void {
    this.claim(`${c.table}\0${c.name}`, owner);
    this.tables.tables.get(c.table)!.chains.set(c.name, c);
    this.markChain(c.table, c.name);
  }

  private dropChain(table: TableKey, name: string): void {
    this.owners.delete(`${table}\0${name}`);
    this.tables.tables.get(table)!.chains.delete(name);
    this.markChain(table, name);
  }

  private markChain(table: TableKey, name: string): void {
    let s = this.dirty.chains.get(table);
    if (!s) this.dirty.chains.set(table, (s = new Set()));
    s.add(name);
  }

  private putSet(s: KernelSet, owner: string): void {
    this.claim(s.name, owner);
    this.tables.sets.set(s.name, s);
    this.dirty.sets.add(s.name);
  }

  private markMember(set: string, member: string): void {
    let s = this.dirty.members.get(set);
    if (!s) this.dirty.members.set(set, (s = new Set()));
    s.add(member);
  }

  // --- peer sets -------------------------------------------------------------------------------

  /** The set names of each peer set, by family. */
  private readonly peerSetNames = new Map<string, Map<IPFamily, string>>();

  private setPeerSet(ps: PeerSet | undefined, key = ps?.key ?? ''): void {
    for (const name of this.peerSetNames.get(key)?.values() ?? []) {
      this.tables.sets.delete(name);
      this.owners.delete(name);
      this.dirty.sets.add(name);
    }
    this.peerSetNames.delete(key);
    if (!ps) return;
    const names = new Map<IPFamily, string>();
    for (const f of this.renderer.peerSetFamilies(ps, this.renderer.families)) {
      const s = this.renderer.peerSet(ps, f);
      if (!s) continue;
      this.putSet(s, `peerset ${ps.key}`);
      names.set(f, s.name);
    }
    this.peerSetNames.set(ps.key, names);
  }

  private changeMembers(ps: PeerSet, members: readonly string[]): void {
    if (ps.def.kind === 'cidr') {
      // Static sets; a change of one is a new definition. Re-render it whole.
      this.setPeerSet(ps);
      return;
    }
    for (const f of this.renderer.peerSetFamilies(ps, this.renderer.families)) {
      const name = this.peerSetNames.get(ps.key)?.get(f);
      const set = name === undefined ? undefined : this.tables.sets.get(name);
      if (!set) continue;
      for (const m of members) {
        const want = ps.members.has(m);
        for (const e of this.renderer.memberEntries(ps, m, f)) {
          if (want) set.members.add(e);
          else set.members.delete(e);
          this.markMember(set.name, e);
        }
      }
    }
  }

  // --- policies --------------------------------------------------------------------------------

  /**
   * A policy's chains exist in a family only while some local pod with an address of that family
   * uses the policy: a single-stack cluster then never writes the other family's rules on a
   * policy change (with iptables, each ip6tables-restore costs 15–20 ms on nf_tables, for rules
   * nothing reaches). "Policy" here is a PolicyRef: a NetworkPolicy key, or a
   * ClusterNetworkPolicy's `cnp:` ref.
   */
  private readonly policyUsers = new Map<IPFamily, Map<string, number>>();

  private setPolicy(state: CompiledState, key: PolicyRef): void {
    for (const f of this.renderer.families) this.renderPolicyIn(state, key, f);
  }

  /** Every variant of a cluster policy's chain (each is rendered while some pod chain uses it). */
  private setClusterPolicy(state: CompiledState, name: string): void {
    for (const variant of CLUSTER_CHAIN_VARIANTS) {
      this.setPolicy(state, callTargetKey({ kind: 'clusterPolicy', key: name, variant }));
    }
  }

  /** (Re)renders one policy's chains in one family, or drops them if it has no user there. */
  private renderPolicyIn(state: CompiledState, key: PolicyRef, f: IPFamily): void {
    const all = this.policyChains.get(key) ?? [];
    const old = all.filter((n) => n.family === f);
    const fresh: ChainRef[] = [];
    if ((this.policyUsers.get(f)?.get(key) ?? 0) > 0) {
      const target = parseCallTargetKey(key);
      const cnp = target.kind === 'clusterPolicy' ? target.key : undefined;
      let chains: Chain[] = [];
      if (target.kind === 'clusterPolicy') {
        const cp = state.clusterPolicies.get(target.key);
        if (cp) chains = this.renderer.clusterPolicy(cp, state.peerSets, f, target.variant);
      } else {
        const policy = state.policies.get(key);
        if (policy) chains = this.renderer.policy(policy, state.peerSets, f);
      }
      for (const c of chains) {
        this.putChain(c, cnp !== undefined ? `cluster policy ${cnp}` : `policy ${key}`);
        fresh.push({ family: f, table: c.table, name: c.name });
      }
    }
    for (const o of old) {
      if (!fresh.some((n) => n.name === o.name && n.table === o.table)) this.dropChain(o.table, o.name);
    }
    const next = [...all.filter((n) => n.family !== f), ...fresh];
    if (next.length > 0) this.policyChains.set(key, next);
    else this.policyChains.delete(key);
  }

  private usePolicy(state: CompiledState, key: PolicyRef, f: IPFamily, by: 1 | -1): void {
    let users = this.policyUsers.get(f);
    if (!users) this.policyUsers.set(f, (users = new Map()));
    const n = (users.get(key) ?? 0) + by;
    if (n > 0) users.set(key, n);
    else users.delete(key);
    if ((by > 0 && n === 1) || n === 0) this.renderPolicyIn(state, key, f);
  }

  // --- pods ------------------------------------------------------------------------------------

  /** Re-render one pod in every family; returns the families whose dispatch rules changed. */
  private setPod(state: CompiledState, key: string): IPFamily[] {
    const pod = state.pods.get(key);
    const changed: IPFamily[] = [];
    for (const f of this.renderer.families) {
      const table = this.renderer.tableOf(f);
      const cache = this.cache.get(f)!;
      const old = cache.pods.get(key);
      const next = pod ? this.renderer.pod(pod, f, state) : undefined;
      for (const c of old?.chains ?? []) {
        if (!next?.chains.some((n) => n.name === c.name)) this.dropChain(table, c.name);
      }
      for (const c of next?.chains ?? []) this.putChain(c, `pod ${key}`);
      // Policies first gain a user (their chains appear), then lose the old ones.
      const oldPolicies = cache.podPolicies.get(key) ?? [];
      const newPolicies = next && next.chains.length > 0 ? next.uses : [];
      for (const p of newPolicies) if (!oldPolicies.includes(p)) this.usePolicy(state, p, f, +1);
      for (const p of oldPolicies) if (!newPolicies.includes(p)) this.usePolicy(state, p, f, -1);
      if (newPolicies.length > 0) cache.podPolicies.set(key, newPolicies);
      else cache.podPolicies.delete(key);
      this.setKnown(key, pod, f);
      for (const d of ['ingress', 'egress'] as const) {
        for (const e of old?.isolated[d] ?? []) this.isolate(d, f, e, -1);
        for (const e of next?.isolated[d] ?? []) this.isolate(d, f, e, +1);
        const oldRules = old?.dispatch[d] ?? [];
        const newRules = next?.dispatch[d] ?? [];
        if (oldRules.length || newRules.length) {
          if (newRules.length) cache.dispatch[d].set(key, newRules);
          else cache.dispatch[d].delete(key);
          if (!changed.includes(f)) changed.push(f);
        }
      }
      if (next && (next.chains.length || next.isolated.ingress.length || next.isolated.egress.length)) {
        cache.pods.set(key, next);
      } else {
        cache.pods.delete(key);
      }
    }
    return changed;
  }

  /**
   * Isolation set membership, counted per key and element: two pods may briefly share an address
   * while one goes. Where elements of one key differ (nftables maps: the address jumps to one
   * pod's chain), the set holds the smallest, so any order of events ends in the same element.
   */
  private readonly isolationRefs = new Map<string, Map<string, Map<string, number>>>();

  private isolate(direction: Direction, family: IPFamily, entry: IsolationEntry, by: 1 | -1): void {
    this.countEntry(this.renderer.isolationSetName(direction, family), entry, by);
  }

  /** Reference-counted membership of a set whose entries several pods may hold at once. */
  private countEntry(setName: string, entry: IsolationEntry, by: 1 | -1): void {
    const set = this.tables.sets.get(setName)!;
    let keys = this.isolationRefs.get(set.name);
    if (!keys) this.isolationRefs.set(set.name, (keys = new Map()));
    let elements = keys.get(entry.key);
    if (!elements) keys.set(entry.key, (elements = new Map()));
    const before = smallestKey(elements);
    const n = (elements.get(entry.element) ?? 0) + by;
    if (n > 0) elements.set(entry.element, n);
    else elements.delete(entry.element);
    if (elements.size === 0) keys.delete(entry.key);
    const after = smallestKey(elements);
    if (before === after) return;
    if (before !== undefined) {
      set.members.delete(before);
      this.markMember(set.name, before);
    }
    if (after !== undefined) {
      set.members.add(after);
      this.markMember(set.name, after);
    }
  }

  // --- fail closed for new pods ----------------------------------------------------------------

  /**
   * A subject pod's addresses are programmed, so known, in the same sync that writes its chains
   * (the backends order it: iptables adds to the known set after the rules are in place).
   */
  private setKnown(key: string, pod: PodRules | undefined, f: IPFamily): void {
    const newPods = this.renderer.newPods;
    if (!newPods) return;
    const cache = this.cache.get(f)!;
    const old = cache.known.get(key) ?? [];
    const next = pod ? pod.ips.filter((ip) => familyOf(ip) === f).map((ip) => newPods.knownElement(ip)) : [];
    if (old.length === next.length && old.every((e, i) => e === next[i])) return;
    const set = newPods.knownSetName(f);
    for (const e of next) this.countEntry(set, { key: e, element: e }, +1);
    for (const e of old) this.countEntry(set, { key: e, element: e }, -1);
    if (next.length > 0) cache.known.set(key, next);
    else cache.known.delete(key);
  }

  /** The remote pod addresses in the known sets now, each counted once beside the subjects'. */
  private readonly remoteKnown = new Set<string>();

  /**
   * Brings these addresses' remote entries in the known sets in line with the state (not with
   * the delta's lists: merged deltas may name an address both added and removed). An address
   * is known while any pod the model has holds it: a new local pod that takes an address the
   * model still gives a pod of another node (its deletion not seen yet) passes unprogrammed
   * until the model catches up — the price of trusting the model over the node's ranges.
   */
  private setRemoteKnown(state: CompiledState, addresses: Iterable<string>): void {
    const newPods = this.renderer.newPods;
    if (!newPods) return;
    for (const ip of addresses) {
      const f = familyOf(ip);
      const want = (state.remotePodAddresses?.has(ip) ?? false) && this.renderer.families.includes(f);
      if (want === this.remoteKnown.has(ip)) continue;
      const e = newPods.knownElement(ip);
      this.countEntry(newPods.knownSetName(f), { key: e, element: e }, want ? +1 : -1);
      if (want) this.remoteKnown.add(ip);
      else this.remoteKnown.delete(ip);
    }
  }

  /** The node's pod ranges, and the link-local range, into each family's 'local' set. */
  private setLocalPodCIDRs(cidrs: readonly string[]): void {
    const newPods = this.renderer.newPods;
    if (!newPods) return;
    for (const f of this.renderer.families) {
      const set = this.tables.sets.get(newPods.localSetName(f))!;
      const want = new Set(newPods.rangeElements([...cidrs, ...UNATTRIBUTABLE_RANGES], f));
      for (const e of [...set.members]) {
        if (want.has(e)) continue;
        set.members.delete(e);
        this.markMember(set.name, e);
      }
      for (const e of want) {
        if (set.members.has(e)) continue;
        set.members.add(e);
        this.markMember(set.name, e);
      }
    }
  }

  private refreshDispatch(family: IPFamily): void {
    const chainOf = this.renderer.dispatchChain;
    if (!chainOf) return;
    const cache = this.cache.get(family)!;
    for (const d of ['ingress', 'egress'] as const) {
      const rules: Rule[] = [];
      for (const rs of cache.dispatch[d].values()) for (const r of rs) rules.push(r);
      const chain = chainOf.call(this.renderer, family, d, rules);
      this.tables.tables.get(chain.table)!.chains.set(chain.name, chain);
      this.markChain(chain.table, chain.name);
    }
  }
}

function smallestKey(m: ReadonlyMap<string, number>): string | undefined {
  let best: string | undefined;
  for (const k of m.keys()) if (best === undefined || k < best) best = k;
  return best;
}

function newDirty(): Dirty {
  return { chains: new Map(), sets: new Set(), members: new Map() };
}
