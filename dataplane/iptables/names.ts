/**
 * Names of every iptables chain and ipset Palisade owns, and the one predicate that says whether
 * a kernel object is ours.
 *
 * Fixed objects have constant names. Generated ones are `PALISADE-<code>-<tail>-<hash>`: a
 * readable tail taken from the object's name, cut so the whole fits the kernel's limit, plus
 * a short hash of the object's key so two objects never share a name whatever their tails
 * (see ../names.ts).
 */
import type { IPFamily } from '../api';
import { type Direction, generatedName } from '../names';

export { type Direction, NAME_HASH_CHARS, shortHash } from '../names';

/** Every object we create starts with this; nothing else may. */
export const PREFIX = 'PALISADE-';

/** iptables chain names: XT_EXTENSION_MAXNAMELEN (29) minus the NUL, as kube-proxy keeps them. */
export const MAX_CHAIN_NAME = 28;
/** ipset names: IPSET_MAXNAMELEN (32) minus the NUL. */
export const MAX_IPSET_NAME = 31;

/** Built-in chains of the filter table that we hook, with the chain each one jumps to. */
export const CHAIN_FORWARD = 'PALISADE-FORWARD';
/** Dispatch of isolated local pod addresses to their pod chains. */
export const CHAIN_INGRESS = 'PALISADE-INGRESS';
export const CHAIN_EGRESS = 'PALISADE-EGRESS';
/** Target of a policy rule that matches: sets the allow mark and returns to the pod chain. */
export const CHAIN_ALLOW = 'PALISADE-ALLOW';
/**
 * Target of a ClusterNetworkPolicy Pass rule: sets the pass mark and returns to the pod chain,
 * which then skips the rest of the policy's tier.
 */
export const CHAIN_PASS = 'PALISADE-PASS';
/** Target of a pod chain whose policies allowed the packet: clears the marks, leaves the dispatch. */
export const CHAIN_ACCEPTED = 'PALISADE-ACCEPTED';

export const FIXED_CHAINS: readonly string[] = [
  CHAIN_FORWARD,
  CHAIN_INGRESS,
  CHAIN_EGRESS,
  CHAIN_ALLOW,
  CHAIN_PASS,
  CHAIN_ACCEPTED,
];

export interface Hook {
  /** Built-in chain of the filter table. */
  readonly builtin: 'FORWARD' | 'INPUT';
  readonly target: string;
}

/**
 * FORWARD carries pod-to-pod and pod-to-outside traffic (routed and, with br_netfilter, bridged).
 * INPUT and OUTPUT are not hooked: traffic between a pod and the node it runs on is always
 * allowed, in both directions, as the Kubernetes NetworkPolicy documentation specifies
 * (kubelet probes, node-local agents, hostNetwork pods of the same node). See README.md.
 */
export const HOOKS: readonly Hook[] = [{ builtin: 'FORWARD', target: CHAIN_FORWARD }];

/** The ipset of local pod addresses isolated in a direction (hash:ip, one per family). */
export function isolationSetName(direction: Direction, family: IPFamily): string {
  return `${PREFIX}ISO-${direction === 'ingress' ? 'IN' : 'EG'}-${family}`;
}

/** Scratch set used by the full mode to refill a set and swap it in (one per type and family). */
export function tempSetName(type: string, family: IPFamily): string {
  const code = type === 'hash:ip' ? 'IP' : type === 'hash:net' ? 'NET' : 'IPPORT';
  return `${PREFIX}TMP-${code}-${family}`;
}

/** The one predicate: is this chain or ipset name ours? */
export function isOwnName(name: string): boolean {
  return name.startsWith(PREFIX);
}

/** `PALISADE-<code>-<tail>-<hash>` within the kernel's limit for that kind of name. */
function ownName(code: string, tailSource: string, key: string, limit: number): string {
  return generatedName(`${PREFIX}${code}-`, tailSource, key, limit);
}

/** Chain of one compiled policy in one direction, shared by every local pod it selects. */
export function policyChainName(policyKey: string, policyName: string, direction: Direction): string {
  return ownName(direction === 'ingress' ? 'PI' : 'PE', policyName, `policy\0${policyKey}`, MAX_CHAIN_NAME);
}

/**
 * Chain of one ClusterNetworkPolicy in one direction, shared by every local pod its subject
 * holds. The tier is not in the name: a tier or priority change moves the jumps to the chain
 * (in pod chains), never the chain itself.
 */
export function clusterPolicyChainName(name: string, direction: Direction): string {
  return ownName(direction === 'ingress' ? 'CI' : 'CE', name, `cnp\0${name}`, MAX_CHAIN_NAME);
}

/** Chain of one local pod in one direction: jumps to the chains of the policies that isolate it. */
export function podChainName(podKey: string, podName: string, direction: Direction): string {
  return ownName(direction === 'ingress' ? 'WI' : 'WE', podName, `pod\0${podKey}`, MAX_CHAIN_NAME);
}

/** Set codes: P = pods (hash:ip), C = cidr (hash:net), N = named port (hash:ip,port). */
export function peerSetName(
  kind: 'pods' | 'cidr' | 'namedPort' | 'nodes',
  family: IPFamily,
  tail: string,
  key: string,
): string {
  const code = { pods: 'P', cidr: 'C', namedPort: 'N', nodes: 'H' }[kind] + String(family);
  return ownName(code, tail, `peerset\0${key}`, MAX_IPSET_NAME);
}
