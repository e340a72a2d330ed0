/**
 * Names of every kernel object Palisade owns, and the one predicate that says whether a kernel
 * object is ours.
 *
 * Fixed objects have constant names. Generated ones are `PALISADE-<code>-<tail>-<hash>`: a
 * readable tail taken from the object's name, cut so the whole fits the kernel's limit, plus
 * a short hash of the object's key so two objects never share a name whatever their tails.
 * The hash is sha256, base32-encoded and truncated: stable across processes, runs and versions.
 */
import { createHash } from 'node:crypto';
import type { IPFamily } from './api';

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

export type Direction = 'ingress' | 'egress';

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

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (no padding) of the first bytes of sha256(text), `chars` characters long. */
export function shortHash(text: string, chars: number): string {
  const digest = createHash('sha256').update(text).digest();
  let out = '';
  let bits = 0;
  let value = 0;
  for (let i = 0; out.length < chars && i < digest.length; i++) {
    value = (value << 8) | digest[i];
    bits += 8;
    while (bits >= 5 && out.length < chars) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out;
}

/** Length of the key hash in generated names: 40 bits, collisions improbable at 10^5 objects. */
export const NAME_HASH_CHARS = 8;

/** Reduce a Kubernetes name or a CIDR to characters safe and readable in a kernel name. */
function readableTail(text: string, max: number): string {
  const clean = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return clean.slice(0, max).replace(/-+$/, '');
}

function generatedName(code: string, tailSource: string, key: string, limit: number): string {
  const hash = shortHash(key, NAME_HASH_CHARS);
  const head = `${PREFIX}${code}-`;
  const room = limit - head.length - hash.length - 1;
  const tail = readableTail(tailSource, room);
  return tail ? `${head}${tail}-${hash}` : `${head}${hash}`;
}

/** Chain of one compiled policy in one direction, shared by every local pod it selects. */
export function policyChainName(policyKey: string, policyName: string, direction: Direction): string {
  return generatedName(
    direction === 'ingress' ? 'PI' : 'PE',
    policyName,
    `policy\0${policyKey}`,
    MAX_CHAIN_NAME,
  );
}

/**
 * Chain of one ClusterNetworkPolicy in one direction, shared by every local pod its subject
 * holds. The tier is not in the name: a tier or priority change moves the jumps to the chain
 * (in pod chains), never the chain itself.
 */
export function clusterPolicyChainName(name: string, direction: Direction): string {
  return generatedName(direction === 'ingress' ? 'CI' : 'CE', name, `cnp\0${name}`, MAX_CHAIN_NAME);
}

/** Chain of one local pod in one direction: jumps to the chains of the policies that isolate it. */
export function podChainName(podKey: string, podName: string, direction: Direction): string {
  return generatedName(direction === 'ingress' ? 'WI' : 'WE', podName, `pod\0${podKey}`, MAX_CHAIN_NAME);
}

/** Set codes: P = pods (hash:ip), C = cidr (hash:net), N = named port (hash:ip,port). */
export function peerSetName(
  kind: 'pods' | 'cidr' | 'namedPort' | 'nodes',
  family: IPFamily,
  tail: string,
  key: string,
): string {
  const code = { pods: 'P', cidr: 'C', namedPort: 'N', nodes: 'H' }[kind] + String(family);
  return generatedName(code, tail, `peerset\0${key}`, MAX_IPSET_NAME);
}
