/**
 * Names in Palisade's nftables table. Everything in the table is ours: the table is the
 * ownership boundary, so other tools' tables, chains and sets are untouched by construction.
 *
 * Fixed names carry the family they serve (`forward-4`, `ingress-6`); generated ones are
 * `<kind>-<direction><family>-<tail>-<hash>` (chains) or `<kind><family>-<tail>-<hash>` (sets),
 * the tail readable (from the object's name, [a-z0-9-] only) and the hash of the object's key.
 * Every name holds a hyphen and starts with a letter: never an nft keyword, always one token.
 */
import type { IPFamily } from '../api';
import type { ClusterChainVariant, PodEvaluation } from '../evaluations';
import { type Direction, generatedName } from '../names';

export const TABLE = 'palisade';
/** How commands name the table. */
export const TABLE_REF = `inet ${TABLE}`;

/** nftables allows 256-byte names; Palisade's stay readable in `nft list` output. */
export const MAX_NAME = 63;

/** The base chain of a family on the forward hook: dispatches isolated local addresses. */
export function baseChainName(family: IPFamily): string {
  return `forward-${family}`;
}

/** Reached (goto) from a pod chain that allowed the packet: clears the mark bits, returns. */
export function acceptedChainName(family: IPFamily): string {
  return `accepted-${family}`;
}

/** The verdict map from an isolated local address to its pod chain (`jump`). */
export function dispatchMapName(direction: Direction, family: IPFamily): string {
  return `${direction}-${family}`;
}

/** Fail closed for new pods: the node's pod address ranges (an interval set, one per family). */
export function localSetName(family: IPFamily): string {
  return `local-${family}`;
}

/** Fail closed for new pods: the local pod addresses Palisade has programmed. */
export function knownSetName(family: IPFamily): string {
  return `known-${family}`;
}

const dir = (d: Direction): string => (d === 'ingress' ? 'in' : 'eg');

/** pod: the pod chain (enforced); audit: the audit pass; wdeny / wallow: the shadow evaluations. */
export const POD_EVALUATION_WORD: Record<PodEvaluation, string> = {
  enforced: 'pod',
  audit: 'audit',
  wouldDeny: 'wdeny',
  wouldAllow: 'wallow',
};

/** Chain of one local pod in one direction and family, for one evaluation (../evaluations.ts). */
export function podChainName(
  podKey: string,
  podName: string,
  direction: Direction,
  family: IPFamily,
  evaluation: PodEvaluation = 'enforced',
): string {
  const key = evaluation === 'enforced' ? `pod\0${podKey}` : `pod\0${evaluation}\0${podKey}`;
  return generatedName(
    `${POD_EVALUATION_WORD[evaluation]}-${dir(direction)}${family}-`,
    podName,
    key,
    MAX_NAME,
  );
}

/** Chain of one NetworkPolicy in one direction and family, shared by the local pods it selects. */
export function policyChainName(
  policyKey: string,
  policyName: string,
  direction: Direction,
  family: IPFamily,
): string {
  return generatedName(`np-${dir(direction)}${family}-`, policyName, `policy\0${policyKey}`, MAX_NAME);
}

/**
 * Chain of one ClusterNetworkPolicy in one direction and family. The tier is not in the name:
 * a tier or priority change moves the jumps (in pod chains), never the chain.
 */
export function clusterPolicyChainName(
  name: string,
  direction: Direction,
  family: IPFamily,
  variant: ClusterChainVariant = 'enforced',
): string {
  const key = variant === 'enforced' ? `cnp\0${name}` : `cnp\0${variant}\0${name}`;
  return generatedName(`${CLUSTER_VARIANT_WORD[variant]}-${dir(direction)}${family}-`, name, key, MAX_NAME);
}

/** cnp: enforced; cnps: signal; cnpd: would-deny (audited, Deny logs); cnpa: would-allow. */
export const CLUSTER_VARIANT_WORD: Record<ClusterChainVariant, string> = {
  enforced: 'cnp',
  signal: 'cnps',
  wouldDeny: 'cnpd',
  wouldAllow: 'cnpa',
};

/** The fail-closed drop's chain of a direction (verdict logs on): logs, then drops. A fixed chain. */
export function failClosedChainName(direction: Direction, family: IPFamily): string {
  return `closed-${dir(direction)}${family}`;
}

/** A log point's own chain (a cluster policy rule's): logs, then does what the rule does. */
export function logPointChainName(id: string, direction: Direction, family: IPFamily): string {
  return `log-${dir(direction)}${family}-${id.toLowerCase()}`;
}

/** Set of one peer set in one family: pods, nodes, cidr (interval) or port (address . port). */
export function peerSetName(
  kind: 'pods' | 'cidr' | 'namedPort' | 'nodes',
  family: IPFamily,
  tail: string,
  key: string,
): string {
  const code = { pods: 'pods', cidr: 'cidr', namedPort: 'port', nodes: 'nodes' }[kind];
  return generatedName(`${code}${family}-`, tail, `peerset\0${key}`, MAX_NAME);
}

export type NftChainKind = 'fixed' | 'pod' | 'policy' | 'clusterPolicy';

/** What a chain name says about the chain: its kind, direction and family. */
export function chainNameInfo(
  name: string,
): { kind: NftChainKind; direction?: Direction; family: IPFamily } | undefined {
  const fixed = /^(?:forward-|accepted-|closed-in|closed-eg)([46])$/.exec(name);
  if (fixed) return { kind: 'fixed', family: Number(fixed[1]) as IPFamily };
  const m = /^(pod|audit|wdeny|wallow|np|cnp|cnps|cnpd|cnpa|log)-(in|eg)([46])-/.exec(name);
  if (!m) return undefined;
  const kind: NftChainKind = Object.values(POD_EVALUATION_WORD).includes(m[1])
    ? 'pod'
    : m[1] === 'np'
      ? 'policy'
      : 'clusterPolicy';
  return { kind, direction: m[2] === 'in' ? 'ingress' : 'egress', family: Number(m[3]) as IPFamily };
}

/** What a set or map name says: a dispatch map's direction and family, or a peer set's family. */
export function setNameInfo(name: string): {
  role: 'isolation' | 'peer' | 'local' | 'known';
  direction?: Direction;
  family?: IPFamily;
} {
  const map = /^(ingress|egress)-([46])$/.exec(name);
  if (map) return { role: 'isolation', direction: map[1] as Direction, family: Number(map[2]) as IPFamily };
  const newPods = /^(local|known)-([46])$/.exec(name);
  if (newPods) return { role: newPods[1] as 'local' | 'known', family: Number(newPods[2]) as IPFamily };
  const peer = /^(?:pods|cidr|port|nodes)([46])-/.exec(name);
  return { role: 'peer', ...(peer ? { family: Number(peer[1]) as IPFamily } : {}) };
}
