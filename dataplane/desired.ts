/**
 * DesiredState: the chains and ipsets the kernel should hold, kept up to date from the IR.
 *
 * What it models: a TablesState (model.ts) for the node's pods, plus per-object caches of what
 * each pod, policy and peer set rendered to, so a delta is applied by removing an object's old
 * output and adding its new one — work proportional to the objects the delta names.
 *
 * How it works: `rebuild` renders everything; `apply` re-renders the pods, policies and peer
 * sets a CompileDelta names and applies member changes one element at a time. Each change marks
 * what it touched (chain names per family, set names, set elements) so the diff engine looks
 * only at those; `takeDirty` hands the marks over and clears them.
 *
 * Promise: after rebuild(S) or a sequence of apply() calls ending in state S, the state equals
 * a fresh rebuild(S) (tests replay sequences to check it). Two objects that render to the same
 * name (a hash collision) are refused with an error rather than silently merged.
 */
import type { CompileDelta, CompiledState, PeerSet, PodRules } from '../compiler/ir';
import type { IPFamily } from './api';
import { type Chain, type IpSet, type Rule, type TablesState, emptyTables } from './model';
import { CHAIN_EGRESS, CHAIN_INGRESS, type Direction, isolationSetName } from './names';
import {
  type PodRender,
  type PolicyLookup,
  type RenderOptions,
  enforcedPolicies,
  memberEntries,
  peerSetFamilies,
  renderDispatchChain,
  renderFixedChains,
  renderHooks,
  renderIsolationSets,
  renderPeerSet,
  renderPod,
  renderClusterPolicy,
  renderPolicy,
} from './render';

/**
 * What owns shared rule chains: a NetworkPolicy (its "namespace/name" key) or a
 * ClusterNetworkPolicy ("cnp:" + its name). The two never collide: NetworkPolicy keys hold a
 * "/", cluster policy names (DNS subdomains) never hold ":" or "/".
 */
type PolicyRef = string;

function clusterPolicyRef(name: string): PolicyRef {
  return `cnp:${name}`;
}

function clusterPolicyOfRef(ref: PolicyRef): string | undefined {
  return ref.startsWith('cnp:') ? ref.slice(4) : undefined;
}

/** Every policy chain a pod's chains jump to, NetworkPolicies and ClusterNetworkPolicies. */
function policyRefsOf(pod: PodRules, lookup: PolicyLookup): PolicyRef[] {
  const refs = new Set<PolicyRef>();
  for (const direction of ['ingress', 'egress'] as const) {
    const { policyKeys, admin, baseline } = enforcedPolicies(pod, direction, lookup);
    for (const k of policyKeys) refs.add(k);
    for (const name of [...admin, ...baseline]) refs.add(clusterPolicyRef(name));
  }
  return [...refs];
}

export interface Dirty {
  /** Chain names touched, per family. */
  readonly chains: Map<IPFamily, Set<string>>;
  /** Sets created, removed or re-rendered whole. */
  readonly sets: Set<string>;
  /** Single elements touched in sets that stay. */
  readonly members: Map<string, Set<string>>;
}

export interface DesiredOptions extends RenderOptions {
  readonly families: readonly IPFamily[];
}

interface FamilyCache {
  /** Rendered output of each pod in this family. */
  readonly pods: Map<string, PodRender>;
  /** The policies each pod's chains in this family jump to. */
  readonly podPolicies: Map<string, readonly string[]>;
  /** Dispatch rules by pod, per direction. */
  readonly dispatch: Record<Direction, Map<string, Rule[]>>;
}

export class DesiredState {
  readonly tables: TablesState;
  private readonly opts: DesiredOptions;
  private readonly cache = new Map<IPFamily, FamilyCache>();
  /** Chain names produced by each policy (all families). */
  private readonly policyChains = new Map<string, { family: IPFamily; name: string }[]>();
  /** Who owns each generated name: detects hash collisions. */
  private readonly owners = new Map<string, string>();
  private dirty: Dirty = newDirty();

  constructor(opts: DesiredOptions) {
    this.opts = opts;
    this.tables = emptyTables(opts.families);
    for (const f of opts.families) {
      this.cache.set(f, {
        pods: new Map(),
        podPolicies: new Map(),
        dispatch: { ingress: new Map(), egress: new Map() },
      });
      const t = this.tables.families.get(f)!;
      for (const c of renderFixedChains(f, opts)) this.putChain(c, 'fixed');
      t.hooks.push(...renderHooks());
      for (const s of renderIsolationSets(f)) this.putSet(s, 'fixed');
      for (const d of ['ingress', 'egress'] as const) this.putChain(renderDispatchChain(f, d, []), 'fixed');
    }
  }

  get families(): readonly IPFamily[] {
    return this.opts.families;
  }

  /** Render a whole compiled state into this (fresh) DesiredState. */
  static build(state: CompiledState, opts: DesiredOptions): DesiredState {
    const d = new DesiredState(opts);
    for (const ps of state.peerSets.values()) d.setPeerSet(ps);
    for (const p of state.policies.keys()) d.setPolicy(state, p);
    for (const c of state.clusterPolicies.keys()) d.setPolicy(state, clusterPolicyRef(c));
    for (const p of state.pods.keys()) d.setPod(state, p);
    for (const f of opts.families) d.refreshDispatch(f);
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
    for (const key of delta.clusterPolicies) this.setPolicy(state, clusterPolicyRef(key));
    const touchedDispatch = new Set<IPFamily>();
    for (const key of delta.pods) {
      for (const f of this.setPod(state, key)) touchedDispatch.add(f);
    }
    for (const f of touchedDispatch) this.refreshDispatch(f);
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
    this.claim(`${c.family}\0${c.name}`, owner);
    this.tables.families.get(c.family)!.chains.set(c.name, c);
    this.markChain(c.family, c.name);
  }

  private dropChain(family: IPFamily, name: string): void {
    this.owners.delete(`${family}\0${name}`);
    this.tables.families.get(family)!.chains.delete(name);
    this.markChain(family, name);
  }

  private markChain(family: IPFamily, name: string): void {
    let s = this.dirty.chains.get(family);
    if (!s) this.dirty.chains.set(family, (s = new Set()));
    s.add(name);
  }

  private putSet(s: IpSet, owner: string): void {
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

  /** The ipset names of each peer set, by family. */
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
    for (const f of peerSetFamilies(ps, this.opts.families)) {
      const s = renderPeerSet(ps, f);
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
    for (const f of peerSetFamilies(ps, this.opts.families)) {
      const name = this.peerSetNames.get(ps.key)?.get(f);
      const set = name === undefined ? undefined : this.tables.sets.get(name);
      if (!set) continue;
      for (const m of members) {
        const want = ps.members.has(m);
        for (const e of memberEntries(ps, m, f)) {
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
   * uses the policy: a single-stack cluster then never writes the other family's iptables on a
   * policy change (each ip6tables-restore costs 15–20 ms on nf_tables, for rules nothing reaches).
   * "Policy" here is a PolicyRef: a NetworkPolicy key, or a ClusterNetworkPolicy's `cnp:` ref.
   */
  private readonly policyUsers = new Map<IPFamily, Map<string, number>>();

  private setPolicy(state: CompiledState, key: string): void {
    for (const f of this.opts.families) this.renderPolicyIn(state, key, f);
  }

  /** (Re)renders one policy's chains in one family, or drops them if it has no user there. */
  private renderPolicyIn(state: CompiledState, key: PolicyRef, f: IPFamily): void {
    const all = this.policyChains.get(key) ?? [];
    const old = all.filter((n) => n.family === f);
    const fresh: { family: IPFamily; name: string }[] = [];
    if ((this.policyUsers.get(f)?.get(key) ?? 0) > 0) {
      const cnp = clusterPolicyOfRef(key);
      let chains: Chain[] = [];
      if (cnp !== undefined) {
        const cp = state.clusterPolicies.get(cnp);
        if (cp) chains = renderClusterPolicy(cp, state.peerSets, f);
      } else {
        const policy = state.policies.get(key);
        if (policy) chains = renderPolicy(policy, state.peerSets, f);
      }
      for (const c of chains) {
        this.putChain(c, cnp !== undefined ? `cluster policy ${cnp}` : `policy ${key}`);
        fresh.push({ family: f, name: c.name });
      }
    }
    for (const o of old) {
      if (!fresh.some((n) => n.name === o.name)) this.dropChain(o.family, o.name);
    }
    const next = [...all.filter((n) => n.family !== f), ...fresh];
    if (next.length > 0) this.policyChains.set(key, next);
    else this.policyChains.delete(key);
  }

  private usePolicy(state: CompiledState, key: string, f: IPFamily, by: 1 | -1): void {
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
    for (const f of this.opts.families) {
      const cache = this.cache.get(f)!;
      const old = cache.pods.get(key);
      const next = pod ? renderPod(pod, f, state, this.opts) : undefined;
      for (const c of old?.chains ?? []) {
        if (!next?.chains.some((n) => n.name === c.name)) this.dropChain(f, c.name);
      }
      for (const c of next?.chains ?? []) this.putChain(c, `pod ${key}`);
      // Policies first gain a user (their chains appear), then lose the old ones.
      const oldPolicies = cache.podPolicies.get(key) ?? [];
      const newPolicies = pod && next && next.chains.length > 0 ? policyRefsOf(pod, state) : [];
      for (const p of newPolicies) if (!oldPolicies.includes(p)) this.usePolicy(state, p, f, +1);
      for (const p of oldPolicies) if (!newPolicies.includes(p)) this.usePolicy(state, p, f, -1);
      if (newPolicies.length > 0) cache.podPolicies.set(key, newPolicies);
      else cache.podPolicies.delete(key);
      for (const d of ['ingress', 'egress'] as const) {
        for (const ip of old?.isolated[d] ?? []) this.isolate(d, f, ip, -1);
        for (const ip of next?.isolated[d] ?? []) this.isolate(d, f, ip, +1);
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

  /** Isolation set membership, counted: two pods may briefly share an address while one goes. */
  private readonly isolationRefs = new Map<string, Map<string, number>>();

  private isolate(direction: Direction, family: IPFamily, ip: string, by: 1 | -1): void {
    const set = this.tables.sets.get(isolationSetName(direction, family))!;
    let refs = this.isolationRefs.get(set.name);
    if (!refs) this.isolationRefs.set(set.name, (refs = new Map()));
    const n = (refs.get(ip) ?? 0) + by;
    if (n > 0) {
      refs.set(ip, n);
      set.members.add(ip);
    } else {
      refs.delete(ip);
      set.members.delete(ip);
    }
    this.markMember(set.name, ip);
  }

  private refreshDispatch(family: IPFamily): void {
    const cache = this.cache.get(family)!;
    for (const d of ['ingress', 'egress'] as const) {
      const rules: Rule[] = [];
      for (const rs of cache.dispatch[d].values()) for (const r of rs) rules.push(r);
      const chain = renderDispatchChain(family, d, rules);
      const t = this.tables.families.get(family)!;
      const name = d === 'ingress' ? CHAIN_INGRESS : CHAIN_EGRESS;
      t.chains.set(name, chain);
      this.markChain(family, name);
    }
  }
}

function newDirty(): Dirty {
  return { chains: new Map(), sets: new Set(), members: new Map() };
}
