/**
 * The dataplane's own state, in one shape for both sides of a diff and for both backends.
 *
 * What it models: tables of chains with their rules (iptables: the filter table of each IP family,
 * keyed 4 and 6, plus the hook rules in its built-in chains; nftables: Palisade's one inet table,
 * keyed 'inet', whose base chain carries its hook), and sets with their members (ipsets; nftables
 * sets and the verdict maps that dispatch pod addresses). `DesiredState` (desired.ts) builds it
 * from the IR through a backend's Renderer; each backend's read-back builds the kernel's version.
 *
 * How rules compare: every rule carries a short hash of its own text in its comment, as Felix
 * does. Two chains are equal when their lists of hashes are, so read-back never needs to
 * re-normalise what the kernel tools print.
 *
 * Promise: plain data. Chain and rule objects are immutable once built and may be shared between
 * the desired and the applied state; set member collections are owned by one state each.
 */
import type { PeerSetDef, PeerSetKey } from '../compiler/ir';
import type { ObjectKey } from '../compiler/model';
import type { IPFamily } from './api';
import type { Direction } from './names';

/** Where a chain lives: an iptables filter table (per IP family) or the nftables inet table. */
export type TableKey = IPFamily | 'inet';

/**
 * fixed: the constant chains (hooks' targets, mark helpers, the nftables base chain); dispatch:
 * iptables' PALISADE-INGRESS/EGRESS, one rule per isolated local address; pod: one pod's chain for
 * a direction; policy: one NetworkPolicy's; clusterPolicy: one ClusterNetworkPolicy's.
 */
export type ChainKind = 'fixed' | 'dispatch' | 'pod' | 'policy' | 'clusterPolicy';

export interface Rule {
  /** The rule as the backend writes it (after `-A CHAIN ` / `add rule inet T CHAIN `), comment included. */
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

/** Where an nftables base chain hooks into netfilter. */
export interface BaseChainSpec {
  readonly type: 'filter';
  readonly hook: 'forward';
  readonly priority: number;
  readonly policy: 'accept';
}

export interface Chain {
  readonly name: string;
  readonly table: TableKey;
  /** The IP family the chain's rules concern (nftables: one base chain per family too). */
  readonly family: IPFamily;
  readonly kind: ChainKind;
  readonly direction?: Direction;
  /** Owner key: the policy of a policy chain, the pod of a pod chain, the CNP's name. */
  readonly owner?: ObjectKey;
  readonly rules: readonly Rule[];
  /** nftables base chains only. */
  readonly base?: BaseChainSpec;
}

/** A rule in an iptables built-in chain (FORWARD) that jumps to one of our chains. */
export interface HookRule {
  readonly builtin: string;
  readonly target: string;
  readonly body: string;
  readonly hash: string;
  /** 1-based position in the built-in chain (read-back only; desired hooks are always at 1). */
  readonly position: number;
}

/**
 * peer: a peer set of the IR; isolation: iptables' sets of isolated local addresses, or the
 * nftables verdict maps from a local address to its pod chain; temp: iptables full mode's
 * scratch sets.
 */
export type SetRole = 'peer' | 'isolation' | 'temp';

export interface KernelSet {
  readonly name: string;
  readonly family: IPFamily;
  /**
   * The backend's type text: ipset `hash:ip`, `hash:net`, `hash:ip,port`; nftables `ipv4_addr`,
   * `ipv4_addr interval`, `ipv4_addr . inet_service`, `ipv4_addr : verdict` (and ipv6_addr).
   */
  readonly type: string;
  readonly role: SetRole;
  /** Isolation sets: which direction they isolate. */
  readonly direction?: Direction;
  /** Peer sets: the IR key and definition the set was rendered from. */
  readonly peerSet?: { readonly key: PeerSetKey; readonly def: PeerSetDef };
  /** Elements as the backend writes and reads them back ("10.0.0.0/8", "10.0.0.5 : jump pod-…"). */
  readonly members: Set<string>;
}

export interface TableState {
  readonly chains: Map<string, Chain>;
  /** iptables only: our rules in built-in chains. */
  readonly hooks: HookRule[];
}

/** Either side of a diff: what we want, or what the kernel holds (as read or as last applied). */
export interface TablesState {
  readonly tables: Map<TableKey, TableState>;
  readonly sets: Map<string, KernelSet>;
}

export function emptyTables(tables: readonly TableKey[]): TablesState {
  return {
    tables: new Map(tables.map((t) => [t, { chains: new Map(), hooks: [] }])),
    sets: new Map(),
  };
}

export function sameRules(a: readonly Rule[], b: readonly Rule[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].hash !== b[i].hash) return false;
  return true;
}

export function sameBase(a: BaseChainSpec | undefined, b: BaseChainSpec | undefined): boolean {
  if (!a || !b) return a === b;
  return a.type === b.type && a.hook === b.hook && a.priority === b.priority && a.policy === b.policy;
}

/** "(IPv4)", "(IPv6)", "(inet)": how messages name a table. */
export function tableLabel(table: TableKey): string {
  return table === 'inet' ? '(inet)' : `(IPv${table})`;
}
