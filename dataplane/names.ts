/**
 * Naming shared by both backends: the stable short hash, and generated names made of a readable
 * tail and a hash of the object's key. Each backend has its own names.ts with its fixed names,
 * its codes and the predicate that says which kernel objects are its own.
 *
 * The hash is sha256, base32-encoded and truncated: stable across processes, runs and versions,
 * so a restarted agent finds the names a previous run created.
 */
import { createHash } from 'node:crypto';
import type { PeerSet } from '../compiler/ir';
import type { IPFamily } from './api';
import { familyOf } from './ip';

export type Direction = 'ingress' | 'egress';

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

/**
 * `<head><tail>-<hash>`, at most `limit` characters: `head` is the backend's prefix and code
 * ("PALISADE-PI-", "np-in4-"), `tail` a readable form of `tailSource`, `hash` that of `key`.
 * Only [a-z0-9-] come from the tail, so cluster data never reaches a name unfiltered.
 */
export function generatedName(head: string, tailSource: string, key: string, limit: number): string {
  const hash = shortHash(key, NAME_HASH_CHARS);
  const room = limit - head.length - hash.length - 1;
  const tail = readableTail(tailSource, room);
  return tail ? `${head}${tail}-${hash}` : `${head}${hash}`;
}

/** Length of the per-rule content hash carried in comments (50 bits). */
export const RULE_HASH_CHARS = 10;
/** Comment marker before the rule hash. */
export const RULE_HASH_TAG = 'pl:';

/** The content hash of a rule: its kernel text and its human comment. */
export function ruleHash(text: string, comment: string): string {
  return shortHash(`${text}\0${comment}`, RULE_HASH_CHARS);
}

/** A readable tail for a peer set's name: its cidr, port name, or first selector label value. */
export function peerSetTail(ps: PeerSet): string {
  const d = ps.def;
  switch (d.kind) {
    case 'cidr':
      return d.cidr;
    case 'namedPort':
      return d.name;
    case 'nodes':
      return Object.values(d.nodeSelector.matchLabels ?? {})[0] ?? 'nodes';
    case 'pods': {
      const firstLabel = Object.values(d.podSelector.matchLabels ?? {})[0];
      return firstLabel ?? d.namespace ?? 'pods';
    }
  }
}

/** Families a set of this peer set exists in: a cidr set in its own; the others in every family. */
export function peerSetFamilies(ps: PeerSet, families: readonly IPFamily[]): IPFamily[] {
  if (ps.def.kind === 'cidr') {
    const f = familyOf(ps.def.cidr);
    return families.includes(f) ? [f] : [];
  }
  return [...families];
}
