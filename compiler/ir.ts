/**
 * The IR: what the compiler hands to the dataplane and to the verdict evaluator.
 *
 * What it models: for each subject pod (every pod for `analyze`, the node's own pods for the
 * agent), which policies isolate it per direction; for each such policy, its rules in terms
 * of peer sets and port matches; for each peer set, its definition and current members.
 *
 * How it works: peer sets are named by a canonical key derived from their definition, so two
 * rules anywhere that select the same peers share one set (and so one ipset). Membership is
 * the only thing that changes when pods come, go or are relabelled; policies and pod rule
 * lists change only when policies do or when a subject pod's labels change.
 *
 * Promise: plain data; keys are stable across processes and runs (same definition, same key).
 */
import type { LabelSelector, ObjectKey, Protocol } from './model';

/** Canonical key of a peer set (see `peerSetKey` in peersets.ts). Stable across runs. */
export type PeerSetKey = string;

/**
 * What a peer set contains.
 * - `pods`: IPs (v4 and v6) of live, non-hostNetwork pods matching `podSelector` in the
 *   namespace `namespace` (a podSelector-only peer: the policy's own namespace), or in every
 *   namespace matching `namespaceSelector`.
 * - `cidr`: the addresses of `cidr` except those in `except` (one IP family; static members).
 * - `namedPort`: `ip,proto:port` entries, one per (live pod, address) that declares a container
 *   port `name` with `protocol`: the resolution of a named port on each destination pod
 *   (subject pods only for ingress rules, every pod for egress rules).
 */
export type PeerSetDef =
  | {
      readonly kind: 'pods';
      readonly namespace?: string;
      readonly namespaceSelector?: LabelSelector;
      readonly podSelector: LabelSelector;
    }
  | { readonly kind: 'cidr'; readonly cidr: string; readonly except: readonly string[] }
  | {
      readonly kind: 'namedPort';
      readonly name: string;
      readonly protocol: Protocol;
      /**
       * Only subject pods contribute. Ingress named ports resolve on the destination, which for
       * ingress is always a subject (a local pod, for the agent): no need to hold the cluster.
       */
      readonly subjectsOnly: boolean;
    };

/**
 * A peer set with its members.
 * - pods: canonical IP strings ("10.0.0.1", "fd00::1").
 * - cidr: `cidr` followed by each except entry prefixed with "!" (e.g. "10.0.0.0/8", "!10.1.0.0/16").
 * - namedPort: ipset hash:ip,port entries, lower-case protocol ("10.0.0.1,tcp:8080", "fd00::1,udp:53").
 */
export interface PeerSet {
  readonly key: PeerSetKey;
  readonly def: PeerSetDef;
  readonly members: ReadonlySet<string>;
}

/**
 * A port match of a rule.
 * - `port`: protocol, and optionally a port or a range [port, endPort]; no port = every port.
 * - `named`: the destination's own (ip, port) must be in the namedPort peer set `set`.
 */
export type PortMatch =
  | { readonly kind: 'port'; readonly protocol: Protocol; readonly port?: number; readonly endPort?: number }
  | { readonly kind: 'named'; readonly protocol: Protocol; readonly name: string; readonly set: PeerSetKey };

/** One ingress or egress rule. 'any' = the field was empty or absent. */
export interface CompiledRule {
  /** Index of the rule in the policy's ingress or egress list (for explanations). */
  readonly index: number;
  /** Peer sets, any of which admits the remote address (source for ingress, destination for egress). */
  readonly peers: readonly PeerSetKey[] | 'any';
  readonly ports: readonly PortMatch[] | 'any';
}

export interface CompiledPolicy {
  readonly key: ObjectKey;
  readonly namespace: string;
  readonly name: string;
  /** null when the policy does not apply to that direction; [] when it does and allows nothing. */
  readonly ingress: readonly CompiledRule[] | null;
  readonly egress: readonly CompiledRule[] | null;
}

export interface PodRules {
  readonly key: ObjectKey;
  readonly namespace: string;
  readonly name: string;
  readonly nodeName: string;
  readonly ips: readonly string[];
  /** Keys of the policies that select the pod for ingress, sorted. Empty = not isolated. */
  readonly ingress: readonly ObjectKey[];
  readonly egress: readonly ObjectKey[];
}

/** The compiled state: complete and self-contained (every referenced key is present). */
export interface CompiledState {
  readonly pods: ReadonlyMap<ObjectKey, PodRules>;
  /** Policies that select at least one subject pod. */
  readonly policies: ReadonlyMap<ObjectKey, CompiledPolicy>;
  /** Peer sets referenced by the policies above. */
  readonly peerSets: ReadonlyMap<PeerSetKey, PeerSet>;
}

export interface MemberChange {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

/**
 * What changed since the previous delta was taken. Consumers (the dataplane renderer) redo only
 * the named objects; `full` says everything must be re-rendered (first compile).
 */
export interface CompileDelta {
  readonly full: boolean;
  /** Subject pods added, removed, or whose ips or policy lists changed. */
  readonly pods: ReadonlySet<ObjectKey>;
  /** Compiled policies added, removed or changed. */
  readonly policies: ReadonlySet<ObjectKey>;
  /** Peer sets that appeared or disappeared in CompiledState.peerSets. */
  readonly peerSets: ReadonlySet<PeerSetKey>;
  /** Membership changes of peer sets present before and after. */
  readonly members: ReadonlyMap<PeerSetKey, MemberChange>;
}
