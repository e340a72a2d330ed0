/**
 * The dataplane's own state, in one shape for both sides of a diff.
 *
 * What it models: per IP family, the PALISADE-* chains of the filter table with their rules and
 * the hook rules in built-in chains; and the PALISADE-* ipsets with their members. `DesiredState`
 * (desired.ts) builds it from the IR; read-back (readback.ts) builds the kernel's version from
 * iptables-save and ipset save.
 *
 * How rules compare: every rule carries a short hash of its own text in its comment, as Felix
 * does. Two chains are equal when their lists of hashes are, so read-back
 * never needs to re-normalise what iptables-save prints.
 *
 * Promise: plain data. Chain and rule objects are immutable once built and may be shared between
 * the desired and the applied state; set member collections are owned by one state each.
 */
import type { PeerSetDef, PeerSetKey } from '../compiler/ir';
import type { ObjectKey } from '../compiler/model';
import type { IPFamily } from './api';
import type { Direction } from './names';

export type SetType = 'hash:ip' | 'hash:net' | 'hash:ip,port';

/**
 * fixed: the constant chains (hooks' targets, mark helpers); dispatch: PALISADE-INGRESS/EGRESS,
 * one rule per isolated local address; pod: one pod's chain for a direction; policy: one
 * NetworkPolicy's; clusterPolicy: one ClusterNetworkPolicy's.
 */
export type ChainKind = 'fixed' | 'dispatch' | 'pod' | 'policy' | 'clusterPolicy';

export interface Rule {
  /** The rule as written after `-A CHAIN ` (comment included). */
  readonly body: string;
  /** Short hash of the rule text (matches, target, human comment); also carried in the comment. */
  readonly hash: string;
  /** The policy whose rule this is (policy chains) or that the rule jumps to (pod chains). */
  readonly policy?: ObjectKey;
  /** Likewise for a ClusterNetworkPolicy (its name). */
  readonly clusterPolicy?: string;
  /** The pod the rule belongs to (pod chains, dispatch rules). */
  readonly pod?: ObjectKey;
}

export interface Chain {
  readonly name: string;
  readonly family: IPFamily;
  readonly kind: ChainKind;
  readonly direction?: Direction;
  /** Owner key: the policy of a policy chain, the pod of a pod chain, the CNP's name. */
  readonly owner?: ObjectKey;
  readonly rules: readonly Rule[];
}

/** A rule in a built-in chain (FORWARD, INPUT) that jumps to one of our chains. */
export interface HookRule {
  readonly builtin: string;
  readonly target: string;
  readonly body: string;
  readonly hash: string;
  /** 1-based position in the built-in chain (read-back only; desired hooks are always at 1). */
  readonly position: number;
}

export type SetRole = 'peer' | 'isolation' | 'temp';

export interface IpSet {
  readonly name: string;
  readonly family: IPFamily;
  readonly type: SetType;
  readonly role: SetRole;
  /** Isolation sets: which direction they isolate. */
  readonly direction?: Direction;
  /** Peer sets: the IR key and definition the set was rendered from. */
  readonly peerSet?: { readonly key: PeerSetKey; readonly def: PeerSetDef };
  /** Elements as `ipset save` prints them after the set name ("10.0.0.0/8", "10.1.0.0/16 nomatch"). */
  readonly members: Set<string>;
}

export interface FamilyTables {
  readonly chains: Map<string, Chain>;
  readonly hooks: HookRule[];
}

/** Either side of a diff: what we want, or what the kernel holds (as read or as last applied). */
export interface TablesState {
  readonly families: Map<IPFamily, FamilyTables>;
  readonly sets: Map<string, IpSet>;
}

export function emptyTables(families: readonly IPFamily[]): TablesState {
  return {
    families: new Map(families.map((f) => [f, { chains: new Map(), hooks: [] }])),
    sets: new Map(),
  };
}

/** The element part of a member ("10.1.0.0/16 nomatch" → "10.1.0.0/16"), as `ipset del` takes it. */
export function memberElement(member: string): string {
  return member.endsWith(' nomatch') ? member.slice(0, -' nomatch'.length) : member;
}

export function sameRules(a: readonly Rule[], b: readonly Rule[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].hash !== b[i].hash) return false;
  return true;
}
