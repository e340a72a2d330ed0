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

const dir = (d: Direction): string => (d === 'ingress' ? 'in' : 'eg');

/** Chain of one local pod in one direction and family. */
export function podChainName(
  podKey: string,
  podName: string,
  direction: Direction,
  family: IPFamily,
): string {
  return generatedName(`pod-${dir(direction)}${family}-`, podName, `pod\0${podKey}`, MAX_NAME);
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
export function clusterPolicyChainName(name: string, direction: Direction, family: IPFamily): string {
  return generatedName(`cnp-${dir(direction)}${family}-`, name, `cnp\0${name}`, MAX_NAME);
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
  const fixed = /^(forward|accepted)-([46])$/.exec(name);
  if (fixed) return { kind: 'fixed', family: Number(fixed[2]) as IPFamily };
  const m = /^(pod|np|cnp)-(in|eg)([46])-/.exec(name);
  if (!m) return undefined;
  const kind: NftChainKind = m[1] === 'pod' ? 'pod' : m[1] === 'np' ? 'policy' : 'clusterPolicy';
  return { kind, direction: m[2] === 'in' ? 'ingress' : 'egress', family: Number(m[3]) as IPFamily };
}

/** What a set or map name says: a dispatch map's direction and family, or a peer set's family. */
export function setNameInfo(name: string): {
  role: 'isolation' | 'peer';
  direction?: Direction;
  family?: IPFamily;
} {
  const map = /^(ingress|egress)-([46])$/.exec(name);
  if (map) return { role: 'isolation', direction: map[1] as Direction, family: Number(map[2]) as IPFamily };
  const peer = /^(?:pods|cidr|port|nodes)([46])-/.exec(name);
  return { role: 'peer', ...(peer ? { family: Number(peer[1]) as IPFamily } : {}) };
}
