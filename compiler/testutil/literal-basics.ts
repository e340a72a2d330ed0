/**
 * What both literal evaluators (NetworkPolicy, literal-evaluator.ts; ClusterNetworkPolicy,
 * literal-cluster-policy.ts) read the same way, written here once and nowhere in the compiler:
 * label selectors, CIDR containment, which pods take part.
 */
// Test code (excluded from the build): node:net's BlockList is the independent CIDR check.
// eslint-disable-next-line no-restricted-imports
import { BlockList, isIP } from 'node:net';
import type { LabelSelector, PodInfo } from '../model';

function hasLabel(labels: Readonly<Record<string, string>>, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(labels, key);
}

/** metav1.LabelSelector semantics: every matchLabels pair and every expression must hold. */
export function literalSelectorMatches(
  sel: LabelSelector,
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const key of Object.keys(sel.matchLabels ?? {})) {
    if (!hasLabel(labels, key) || labels[key] !== sel.matchLabels![key]) return false;
  }
  for (const req of sel.matchExpressions ?? []) {
    const present = hasLabel(labels, req.key);
    const values = req.values ?? [];
    if (req.operator === 'In' && !(present && values.includes(labels[req.key]))) return false;
    if (req.operator === 'NotIn' && present && values.includes(labels[req.key])) return false;
    if (req.operator === 'Exists' && !present) return false;
    if (req.operator === 'DoesNotExist' && present) return false;
  }
  return true;
}

export function family(ip: string): 'ipv4' | 'ipv6' {
  return isIP(ip) === 6 ? 'ipv6' : 'ipv4';
}

export function inCidr(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/');
  if (family(net) !== family(ip)) return false;
  const list = new BlockList();
  list.addSubnet(net, Number(bits), family(net));
  return list.check(ip, family(ip));
}

/** A pod with an address that has not terminated. */
export function participates(p: PodInfo): boolean {
  return p.ips.length > 0 && p.phase !== 'Succeeded' && p.phase !== 'Failed';
}

/** A pod policies can select: participating and not on the host network. */
export function isPolicyTarget(p: PodInfo): boolean {
  return participates(p) && !p.hostNetwork;
}

/** One end of a connection as the evaluators see it: the pod (if any) and its addresses. */
export interface LiteralEnd {
  readonly pod?: PodInfo;
  readonly ips: readonly string[];
}
