/**
 * One NetworkPolicy → its CompiledPolicy and the definitions of the peer sets it references.
 *
 * A compiled policy depends on the policy object alone (its namespace and spec), never on
 * pods or namespaces: what changes with the cluster is peer-set membership, kept elsewhere.
 * That is what lets a pod relabel cost set-member updates and no rule changes.
 */
import type { CompiledPolicy, CompiledRule, PeerSetDef, PeerSetKey, PortMatch } from './ir';
import type { NetworkPolicyPeer, NetworkPolicyPort, PolicyInfo, Protocol } from './model';
import { objectKey } from './model';
import { canonicalSelector, selectorKey } from './selector';

export function peerSetKey(def: PeerSetDef): PeerSetKey {
  switch (def.kind) {
    case 'pods':
      return def.namespaceSelector !== undefined
        ? `pods|nssel=${selectorKey(def.namespaceSelector)}|pod=${selectorKey(def.podSelector)}`
        : `pods|ns=${def.namespace}|pod=${selectorKey(def.podSelector)}`;
    case 'cidr':
      return `cidr|${def.cidr}${def.except.map((e) => `|!${e}`).join('')}`;
    case 'namedPort':
      return `named|${def.protocol}|${def.name}${def.subjectsOnly ? '|subjects' : ''}`;
    case 'nodes':
      return `nodes|${selectorKey(def.nodeSelector)}`;
  }
}

/**
 * policyTypes defaulting, as the API server does: listed types win; otherwise Ingress always,
 * and Egress when the policy has egress rules.
 */
export function effectiveTypes(p: PolicyInfo): { ingress: boolean; egress: boolean } {
  const listed = p.spec.policyTypes;
  if (listed && listed.length > 0) {
    return { ingress: listed.includes('Ingress'), egress: listed.includes('Egress') };
  }
  return { ingress: true, egress: (p.spec.egress?.length ?? 0) > 0 };
}

function peerDef(policyNamespace: string, peer: NetworkPolicyPeer): PeerSetDef {
  if (peer.ipBlock) {
    return { kind: 'cidr', cidr: peer.ipBlock.cidr, except: [...(peer.ipBlock.except ?? [])].sort() };
  }
  if (peer.namespaceSelector !== undefined) {
    return {
      kind: 'pods',
      namespaceSelector: canonicalSelector(peer.namespaceSelector),
      podSelector: canonicalSelector(peer.podSelector),
    };
  }
  return { kind: 'pods', namespace: policyNamespace, podSelector: canonicalSelector(peer.podSelector) };
}

function portMatch(
  port: NetworkPolicyPort,
  subjectsOnly: boolean,
  defs: Map<PeerSetKey, PeerSetDef>,
): PortMatch {
  const protocol: Protocol = port.protocol ?? 'TCP';
  if (port.port === undefined) return { kind: 'port', protocol };
  if (typeof port.port === 'number') {
    return port.endPort !== undefined
      ? { kind: 'port', protocol, port: port.port, endPort: port.endPort }
      : { kind: 'port', protocol, port: port.port };
  }
  const def: PeerSetDef = { kind: 'namedPort', name: port.port, protocol, subjectsOnly };
  const key = peerSetKey(def);
  defs.set(key, def);
  return { kind: 'named', protocol, name: port.port, set: key };
}

function compileRules(
  policyNamespace: string,
  direction: 'ingress' | 'egress',
  rules: readonly { peers?: readonly NetworkPolicyPeer[]; ports?: readonly NetworkPolicyPort[] }[],
  defs: Map<PeerSetKey, PeerSetDef>,
): CompiledRule[] {
  return rules.map((r, index) => {
    let peers: PeerSetKey[] | 'any' = 'any';
    if (r.peers && r.peers.length > 0) {
      const keys = new Set<PeerSetKey>();
      for (const peer of r.peers) {
        const def = peerDef(policyNamespace, peer);
        const key = peerSetKey(def);
        defs.set(key, def);
        keys.add(key);
      }
      peers = [...keys];
    }
    const ports =
      r.ports && r.ports.length > 0 ? r.ports.map((p) => portMatch(p, direction === 'ingress', defs)) : 'any';
    return { index, peers, ports };
  });
}

export interface PolicyCompilation {
  readonly compiled: CompiledPolicy;
  /** Every peer set the policy references (peers and named ports), by key. */
  readonly peerSets: ReadonlyMap<PeerSetKey, PeerSetDef>;
}

export function compilePolicy(p: PolicyInfo): PolicyCompilation {
  const types = effectiveTypes(p);
  const defs = new Map<PeerSetKey, PeerSetDef>();
  const ingress = types.ingress
    ? compileRules(
        p.namespace,
        'ingress',
        (p.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports })),
        defs,
      )
    : null;
  const egress = types.egress
    ? compileRules(
        p.namespace,
        'egress',
        (p.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports })),
        defs,
      )
    : null;
  return {
    compiled: {
      key: objectKey(p),
      namespace: p.namespace,
      name: p.name,
      ingress,
      egress,
      ...(p.audit ? { audit: true as const } : {}),
    },
    peerSets: defs,
  };
}
