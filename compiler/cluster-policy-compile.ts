/**
 * One ClusterNetworkPolicy → its CompiledClusterPolicy and the definitions of the peer sets it
 * references; and the subject test.
 *
 * As for v1 policies (policy-compile.ts), the compiled policy depends on the object alone:
 * what changes with the cluster is peer-set membership and which pods the subject holds.
 *
 * Peers map onto the peer-set kinds v1 uses, so a CNP and a NetworkPolicy naming the same pods
 * share one set: `namespaces: S` is `pods` with namespaceSelector S and an empty podSelector;
 * `pods` is `pods` with both selectors; each `networks` CIDR is a `cidr` set without except;
 * `nodes` is a `nodes` set. A `destinationNamedPort` has no protocol: it resolves to the
 * destination's container port of that name whatever its protocol, i.e. one named-port match
 * per protocol.
 *
 * `domainNames` peers are not enforced (they need DNS interception). The API's rule for a peer
 * an implementation cannot match is "fail closed", for the whole rule: an Accept rule matches
 * no traffic (its other peers included), a Deny or a Pass rule becomes a Deny of all traffic
 * ("treat the rule as a 'Deny all' rule"; its protocols still apply). The compiled rule
 * records the peer kind in `unsupported` so analyze, the agent and explain can say so.
 */
import type {
  ClusterPolicyKey,
  CompiledClusterPolicy,
  CompiledTierRule,
  PeerSetDef,
  PeerSetKey,
  PortMatch,
} from './ir';
import type {
  ClusterPolicyInfo,
  ClusterPolicyPeer,
  ClusterPolicyProtocol,
  ClusterPolicyRule,
  ClusterPolicySubject,
  Labels,
  Protocol,
} from './model';
import { PROTOCOLS } from './model';
import { peerSetKey } from './policy-compile';
import { canonicalSelector, selectorMatches } from './selector';

/** Does the subject hold a pod (labels `podLabels`) of a namespace labelled `nsLabels`? */
export function subjectMatches(subject: ClusterPolicySubject, nsLabels: Labels, podLabels: Labels): boolean {
  if (subject.namespaces !== undefined) return selectorMatches(subject.namespaces, nsLabels);
  if (subject.pods !== undefined) {
    return (
      selectorMatches(subject.pods.namespaceSelector, nsLabels) &&
      selectorMatches(subject.pods.podSelector, podLabels)
    );
  }
  return false; // no field set: validation refuses it; select nothing rather than everything
}

/** The peer-set definition of a peer, or 'unsupported' (domainNames, or a peer with no field). */
function peerDefs(peer: ClusterPolicyPeer): PeerSetDef[] | 'unsupported' {
  if (peer.namespaces !== undefined) {
    return [{ kind: 'pods', namespaceSelector: canonicalSelector(peer.namespaces), podSelector: {} }];
  }
  if (peer.pods !== undefined) {
    return [
      {
        kind: 'pods',
        namespaceSelector: canonicalSelector(peer.pods.namespaceSelector),
        podSelector: canonicalSelector(peer.pods.podSelector),
      },
    ];
  }
  if (peer.networks !== undefined) {
    return peer.networks.map((cidr) => ({ kind: 'cidr', cidr, except: [] }));
  }
  if (peer.nodes !== undefined) return [{ kind: 'nodes', nodeSelector: canonicalSelector(peer.nodes) }];
  return 'unsupported';
}

function unsupportedKind(peer: ClusterPolicyPeer): string {
  return peer.domainNames !== undefined ? 'domainNames' : 'unknown peer';
}

function protocolMatches(
  p: ClusterPolicyProtocol,
  direction: 'ingress' | 'egress',
  defs: Map<PeerSetKey, PeerSetDef>,
): PortMatch[] {
  if (p.destinationNamedPort !== undefined) {
    return PROTOCOLS.map((protocol) => {
      const def: PeerSetDef = {
        kind: 'namedPort',
        name: p.destinationNamedPort!,
        protocol,
        subjectsOnly: direction === 'ingress',
      };
      const key = peerSetKey(def);
      defs.set(key, def);
      return { kind: 'named', protocol, name: p.destinationNamedPort!, set: key };
    });
  }
  const entries: [
    Protocol,
    { destinationPort?: { number?: number; range?: { start: number; end: number } } },
  ][] = [];
  if (p.tcp) entries.push(['TCP', p.tcp]);
  if (p.udp) entries.push(['UDP', p.udp]);
  if (p.sctp) entries.push(['SCTP', p.sctp]);
  return entries.map(([protocol, attrs]): PortMatch => {
    const dp = attrs.destinationPort;
    if (dp?.number !== undefined) return { kind: 'port', protocol, port: dp.number };
    if (dp?.range !== undefined)
      return { kind: 'port', protocol, port: dp.range.start, endPort: dp.range.end };
    return { kind: 'port', protocol };
  });
}

function compileRule(
  rule: ClusterPolicyRule,
  index: number,
  direction: 'ingress' | 'egress',
  defs: Map<PeerSetKey, PeerSetDef>,
): CompiledTierRule {
  const keys = new Set<PeerSetKey>();
  const unsupported = new Set<string>();
  for (const peer of rule.peers) {
    const ds = peerDefs(peer);
    if (ds === 'unsupported') {
      unsupported.add(unsupportedKind(peer));
      continue;
    }
    for (const def of ds) {
      const key = peerSetKey(def);
      defs.set(key, def);
      keys.add(key);
    }
  }
  // Fail closed on a peer we cannot match, as the API defines it for the whole rule: "For
  // Accept rules, ... treat the rule as matching no traffic. For Deny and Pass rules, ...
  // treat the rule as a 'Deny all' rule" (its protocols still apply: only the peer is unknown).
  const failClosed = unsupported.size > 0;
  const peers: readonly PeerSetKey[] | 'any' = !failClosed
    ? [...keys]
    : rule.action === 'Accept'
      ? []
      : 'any';
  const action = failClosed && rule.action === 'Pass' ? 'Deny' : rule.action;
  let ports: PortMatch[] | 'any' = 'any';
  if (rule.protocols && rule.protocols.length > 0) {
    ports = rule.protocols.flatMap((p) => protocolMatches(p, direction, defs));
  }
  return {
    index,
    name: rule.name,
    action,
    ...(action !== rule.action ? { writtenAction: rule.action } : {}),
    peers,
    ports,
    ...(unsupported.size > 0 ? { unsupported: [...unsupported].sort() } : {}),
  };
}

export interface ClusterPolicyCompilation {
  readonly compiled: CompiledClusterPolicy;
  /** Every peer set the compiled rules reference (peers and named ports), by key. */
  readonly peerSets: ReadonlyMap<PeerSetKey, PeerSetDef>;
}

/** The set keys a rule references, peers and named ports. */
function referencedSets(rule: CompiledTierRule): PeerSetKey[] {
  const out: PeerSetKey[] = rule.peers === 'any' ? [] : [...rule.peers];
  if (rule.ports !== 'any') for (const m of rule.ports) if (m.kind === 'named') out.push(m.set);
  return out;
}

export function compileClusterPolicy(c: ClusterPolicyInfo): ClusterPolicyCompilation {
  const defs = new Map<PeerSetKey, PeerSetDef>();
  const compileDirection = (
    rules: readonly ClusterPolicyRule[],
    direction: 'ingress' | 'egress',
  ): CompiledTierRule[] | null =>
    rules.length === 0 ? null : rules.map((r, i) => compileRule(r, i, direction, defs));
  const ingress = compileDirection(c.ingress, 'ingress');
  const egress = compileDirection(c.egress, 'egress');
  // Keep only the definitions some compiled rule references (a widened rule drops its sets).
  const used = new Map<PeerSetKey, PeerSetDef>();
  for (const r of [...(ingress ?? []), ...(egress ?? [])]) {
    for (const k of referencedSets(r)) used.set(k, defs.get(k)!);
  }
  const key: ClusterPolicyKey = c.name;
  return {
    compiled: {
      key,
      name: c.name,
      tier: c.tier === 'Admin' ? 'admin' : 'baseline',
      priority: c.priority,
      ingress,
      egress,
      ...(c.audit ? { audit: true as const } : {}),
    },
    peerSets: used,
  };
}

/** Human text for the rules of a policy that Palisade cannot enforce as written (for warnings). */
export function unsupportedRuleWarnings(c: CompiledClusterPolicy): string[] {
  const out: string[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    for (const r of c[direction] ?? []) {
      if (!r.unsupported) continue;
      const rule = r.name ? `rule ${r.index} "${r.name}"` : `rule ${r.index}`;
      const written = r.writtenAction ?? r.action;
      const effect =
        r.action === 'Accept'
          ? "Palisade treats the rule as matching no traffic (the API's fail-closed rule for Accept)"
          : `Palisade treats the rule as a Deny of every remote address (the API's fail-closed rule for ${written})`;
      out.push(
        `ClusterNetworkPolicy ${c.name}: ${direction} ${rule} (${written}) has ${r.unsupported.join(', ')} peers, which Palisade does not enforce; ${effect}`,
      );
    }
  }
  return out;
}
