/**
 * Which members a pod contributes to a peer set. One function per set kind, used both when a
 * set is first filled and when a single pod changes, so the two can never disagree.
 */
import type { PeerSetDef } from './ir';
import type { NamespaceInfo, NodeInfo, PodInfo } from './model';
import { podIsPolicyTarget } from './model';
import { selectorMatches } from './selector';

/**
 * Members that `pod` (in namespace `ns`) contributes to the set defined by `def`; `isSubject`
 * says whether the compiler holds the pod's rules (for subject-only named-port sets).
 */
export function podMembers(
  def: PeerSetDef,
  pod: PodInfo,
  ns: NamespaceInfo | undefined,
  isSubject: boolean,
): readonly string[] {
  if (!podIsPolicyTarget(pod)) return [];
  switch (def.kind) {
    case 'cidr':
    case 'nodes':
      return [];
    case 'pods': {
      if (def.namespaceSelector !== undefined) {
        if (!ns || !selectorMatches(def.namespaceSelector, ns.labels)) return [];
      } else if (pod.namespace !== def.namespace) {
        return [];
      }
      return selectorMatches(def.podSelector, pod.labels) ? pod.ips : [];
    }
    case 'namedPort': {
      if (def.subjectsOnly && !isSubject) return [];
      const out: string[] = [];
      const proto = def.protocol.toLowerCase();
      for (const np of pod.namedPorts) {
        if (np.name === def.name && np.protocol === def.protocol) {
          for (const ip of pod.ips) out.push(`${ip},${proto}:${np.port}`);
        }
      }
      return out;
    }
  }
}

/** The static members of a cidr set: the block, then each exception prefixed with "!". */
export function cidrMembers(def: PeerSetDef & { kind: 'cidr' }): readonly string[] {
  return [def.cidr, ...def.except.map((e) => `!${e}`)];
}

/** Members a node contributes to a `nodes` set: its addresses, when its labels match. */
export function nodeMembers(def: PeerSetDef, node: NodeInfo): readonly string[] {
  if (def.kind !== 'nodes') return [];
  return selectorMatches(def.nodeSelector, node.labels) ? node.addresses : [];
}
