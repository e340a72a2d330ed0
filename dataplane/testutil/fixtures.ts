/**
 * Small factories for CompiledState fixtures, and a delta computed between two states (what the
 * compiler's flush() would report), so dataplane tests need no compiler.
 *
 * Test address plan: local pods 10.1.0.0/16 and fd01::/64; remote (cluster) pods 10.2.0.0/16 and
 * fd02::/64; outside hosts 192.0.2.0/24 and 2001:db8::/32.
 */
import type {
  CompileDelta,
  CompiledClusterPolicy,
  CompiledPolicy,
  CompiledRule,
  CompiledState,
  MemberChange,
  PeerSet,
  PeerSetDef,
  PodRules,
  PortMatch,
} from '../../compiler/ir';
import type { LabelSelector, Protocol } from '../../compiler/model';

export function pod(
  key: string,
  opts: {
    ips?: string[];
    ingress?: string[];
    egress?: string[];
    node?: string;
    adminIngress?: string[];
    adminEgress?: string[];
    baselineIngress?: string[];
    baselineEgress?: string[];
  } = {},
): PodRules {
  const [namespace, name] = key.split('/');
  return {
    key,
    namespace,
    name,
    nodeName: opts.node ?? 'node-1',
    ips: opts.ips ?? [],
    ingress: [...(opts.ingress ?? [])].sort(),
    egress: [...(opts.egress ?? [])].sort(),
    adminIngress: opts.adminIngress ?? [],
    adminEgress: opts.adminEgress ?? [],
    baselineIngress: opts.baselineIngress ?? [],
    baselineEgress: opts.baselineEgress ?? [],
  };
}

export function rule(
  index: number,
  peers: readonly string[] | 'any' = 'any',
  ports: readonly PortMatch[] | 'any' = 'any',
): CompiledRule {
  return { index, peers, ports };
}

export function policy(
  key: string,
  opts: { ingress?: CompiledRule[] | null; egress?: CompiledRule[] | null } = {},
): CompiledPolicy {
  const [namespace, name] = key.split('/');
  return { key, namespace, name, ingress: opts.ingress ?? null, egress: opts.egress ?? null };
}

export function tcp(port?: number, endPort?: number): PortMatch {
  return {
    kind: 'port',
    protocol: 'TCP',
    ...(port !== undefined ? { port } : {}),
    ...(endPort ? { endPort } : {}),
  };
}

export function port(protocol: Protocol, p?: number, endPort?: number): PortMatch {
  return { kind: 'port', protocol, ...(p !== undefined ? { port: p } : {}), ...(endPort ? { endPort } : {}) };
}

export function named(name: string, set: string, protocol: Protocol = 'TCP'): PortMatch {
  return { kind: 'named', protocol, name, set };
}

export function podsSet(
  key: string,
  members: Iterable<string>,
  sel: { namespace?: string; podSelector?: LabelSelector; namespaceSelector?: LabelSelector } = {},
): PeerSet {
  const def: PeerSetDef = {
    kind: 'pods',
    ...(sel.namespace !== undefined ? { namespace: sel.namespace } : {}),
    ...(sel.namespaceSelector ? { namespaceSelector: sel.namespaceSelector } : {}),
    podSelector: sel.podSelector ?? {},
  };
  return { key, def, members: new Set(members) };
}

export function cidrSet(key: string, cidr: string, except: string[] = []): PeerSet {
  return {
    key,
    def: { kind: 'cidr', cidr, except },
    members: new Set([cidr, ...except.map((e) => `!${e}`)]),
  };
}

export function namedPortSet(
  key: string,
  name: string,
  protocol: Protocol,
  members: Iterable<string>,
  subjectsOnly = false,
): PeerSet {
  return { key, def: { kind: 'namedPort', name, protocol, subjectsOnly }, members: new Set(members) };
}

export function state(parts: {
  pods?: PodRules[];
  policies?: CompiledPolicy[];
  clusterPolicies?: CompiledClusterPolicy[];
  peerSets?: PeerSet[];
  localPodCIDRs?: string[];
  remotePodAddresses?: string[];
}): CompiledState {
  return {
    pods: new Map((parts.pods ?? []).map((p) => [p.key, p])),
    policies: new Map((parts.policies ?? []).map((p) => [p.key, p])),
    clusterPolicies: new Map((parts.clusterPolicies ?? []).map((p) => [p.key, p])),
    peerSets: new Map((parts.peerSets ?? []).map((p) => [p.key, p])),
    ...(parts.localPodCIDRs ? { localPodCIDRs: parts.localPodCIDRs } : {}),
    ...(parts.remotePodAddresses ? { remotePodAddresses: new Set(parts.remotePodAddresses) } : {}),
  };
}

export const EMPTY_STATE: CompiledState = state({});

export function fullDelta(s: CompiledState): CompileDelta {
  return {
    full: true,
    pods: new Set(s.pods.keys()),
    policies: new Set(s.policies.keys()),
    clusterPolicies: new Set(s.clusterPolicies.keys()),
    peerSets: new Set(s.peerSets.keys()),
    members: new Map(),
  };
}

const sameJSON = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** The delta a compiler would report going from `prev` to `next`. */
export function deltaBetween(prev: CompiledState, next: CompiledState): CompileDelta {
  const changedKeys = <T>(a: ReadonlyMap<string, T>, b: ReadonlyMap<string, T>): Set<string> => {
    const out = new Set<string>();
    for (const [k, v] of a) if (!b.has(k) || !sameJSON(v, b.get(k))) out.add(k);
    for (const k of b.keys()) if (!a.has(k)) out.add(k);
    return out;
  };
  const peerSets = new Set<string>();
  const members = new Map<string, MemberChange>();
  for (const [k, ps] of prev.peerSets) {
    const n = next.peerSets.get(k);
    if (!n || !sameJSON(n.def, ps.def)) {
      peerSets.add(k);
      continue;
    }
    const added = [...n.members].filter((m) => !ps.members.has(m));
    const removed = [...ps.members].filter((m) => !n.members.has(m));
    if (added.length || removed.length) members.set(k, { added, removed });
  }
  for (const k of next.peerSets.keys()) if (!prev.peerSets.has(k)) peerSets.add(k);
  return {
    full: false,
    pods: changedKeys(prev.pods, next.pods),
    policies: changedKeys(prev.policies, next.policies),
    clusterPolicies: changedKeys(prev.clusterPolicies, next.clusterPolicies),
    peerSets,
    members,
    ...(sameJSON(prev.localPodCIDRs ?? [], next.localPodCIDRs ?? []) ? {} : { localPodCIDRs: true }),
    ...remoteChange(prev.remotePodAddresses ?? new Set(), next.remotePodAddresses ?? new Set()),
  };
}

function remoteChange(
  prev: ReadonlySet<string>,
  next: ReadonlySet<string>,
): { remotePodAddresses?: MemberChange } {
  const added = [...next].filter((a) => !prev.has(a));
  const removed = [...prev].filter((a) => !next.has(a));
  return added.length || removed.length ? { remotePodAddresses: { added, removed } } : {};
}

/** Merge consecutive deltas (what a coalescing runner hands over after skipping syncs). */
export function mergeDeltas(a: CompileDelta, b: CompileDelta): CompileDelta {
  const members = new Map<string, MemberChange>();
  for (const d of [a, b]) {
    for (const [k, c] of d.members) {
      const m = members.get(k) ?? { added: [], removed: [] };
      members.set(k, { added: [...m.added, ...c.added], removed: [...m.removed, ...c.removed] });
    }
  }
  return {
    full: a.full || b.full,
    pods: new Set([...a.pods, ...b.pods]),
    policies: new Set([...a.policies, ...b.policies]),
    clusterPolicies: new Set([...a.clusterPolicies, ...b.clusterPolicies]),
    peerSets: new Set([...a.peerSets, ...b.peerSets]),
    members,
    ...(a.localPodCIDRs || b.localPodCIDRs ? { localPodCIDRs: true } : {}),
    ...(a.remotePodAddresses || b.remotePodAddresses
      ? {
          remotePodAddresses: {
            added: [...(a.remotePodAddresses?.added ?? []), ...(b.remotePodAddresses?.added ?? [])],
            removed: [...(a.remotePodAddresses?.removed ?? []), ...(b.remotePodAddresses?.removed ?? [])],
          },
        }
      : {}),
  };
}

/** A state with one member moved between two pod sets: what a label change looks like. */
export function withMembers(s: CompiledState, key: string, members: Iterable<string>): CompiledState {
  const ps = s.peerSets.get(key);
  if (!ps) throw new Error(`no peer set ${key}`);
  const peerSets = new Map(s.peerSets);
  peerSets.set(key, { ...ps, members: new Set(members) });
  return { ...s, peerSets };
}
