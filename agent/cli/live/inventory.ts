/**
 * Inventory: the agent's own kernel objects, desired and as the kernel holds them, side by side,
 * each with where it came from. Feeds `palisade chains`, `palisade ipsets` and the details of
 * `palisade diff`. Pure functions of two DataplaneViews.
 *
 * Origins: a policy chain comes from its policy, a pod chain from its pod; a peer ipset from
 * the policies whose rules match it (and the peer set it holds); an isolation ipset from the
 * local pods isolated in its direction.
 */
import { selectorKey, type PeerSetDef } from '../../../compiler';
import type { ChainView, DataplaneView, HookView, IPFamily, IpSetView } from '../../../dataplane/api';
import { peerText } from '../format/explain-text';
import { chainState, ruleParts, setState, setUsers, type ObjectState } from './kernel-objects';

export interface ChainRow {
  readonly family: IPFamily;
  readonly name: string;
  readonly kind: ChainView['kind'];
  readonly direction?: 'ingress' | 'egress';
  /** The policy (policy chains) or pod (pod chains) it was rendered from. */
  readonly owner?: string;
  readonly state: ObjectState;
  /** Rules as the kernel holds them; the desired ones when the kernel lacks the chain. */
  readonly rules: ReadonlyArray<{
    readonly rule: number;
    readonly spec: string;
    readonly note: string;
    readonly policy?: string;
    readonly pod?: string;
    /** For a chain that differs: this rule is not desired. */
    readonly extra?: boolean;
  }>;
  /** For a chain that differs: desired rules the kernel lacks. */
  readonly missingRules: ReadonlyArray<{ readonly spec: string; readonly note: string }>;
}

export interface SetRow {
  readonly family: IPFamily;
  readonly name: string;
  readonly type: IpSetView['type'];
  readonly role: IpSetView['role'];
  readonly direction?: 'ingress' | 'egress';
  /** The peer set it holds, in words ("pods matching app=foo in namespace default"). */
  readonly selects?: string;
  readonly peerSet?: string;
  /** Policies whose rules match this set. */
  readonly policies: readonly string[];
  /** Chains with a rule that matches this set. */
  readonly chains: readonly string[];
  readonly state: ObjectState;
  /** Members as the kernel holds them; the desired ones when the kernel lacks the set. */
  readonly members: readonly string[];
  readonly missingMembers: readonly string[];
  readonly extraMembers: readonly string[];
}

export interface HookRow {
  readonly family: IPFamily;
  readonly builtin: string;
  readonly target: string;
  /** 1-based position in the built-in chain; null when the kernel lacks the hook. */
  readonly position: number | null;
  readonly state: 'in sync' | 'missing' | 'not first' | 'not desired';
}

export interface Inventory {
  /** The agent's dataplane backend: iptables chains and ipsets, or the nftables table. */
  readonly backend: 'iptables' | 'nftables';
  readonly chains: readonly ChainRow[];
  readonly ipsets: readonly SetRow[];
  readonly hooks: readonly HookRow[];
}

export function selectsText(def: PeerSetDef): string {
  switch (def.kind) {
    case 'pods':
      return peerText(
        {
          podSelector: def.podSelector,
          ...(def.namespaceSelector ? { namespaceSelector: def.namespaceSelector } : {}),
        },
        def.namespace ?? '',
      );
    case 'cidr':
      return peerText({ ipBlock: { cidr: def.cidr, except: def.except } }, '');
    case 'namedPort':
      return `pods declaring port ${def.name}/${def.protocol}${def.subjectsOnly ? ' (local pods)' : ''}`;
    case 'nodes':
      return `addresses of nodes matching ${selectorKey(def.nodeSelector)}`;
  }
}

const key = (family: IPFamily, name: string) => `${family}/${name}`;

function chainRow(d: ChainView | undefined, a: ChainView | undefined): ChainRow {
  const c = (a ?? d)!;
  const state = chainState(d, a);
  const desiredHashes = new Set(d?.rules.map((r) => r.hash) ?? []);
  const actualHashes = new Set(a?.rules.map((r) => r.hash) ?? []);
  const origin = new Map((d?.rules ?? []).map((r) => [r.hash, r]));
  const owner = d?.owner ?? a?.owner;
  return {
    family: c.family,
    name: c.name,
    kind: c.kind,
    ...(c.direction ? { direction: c.direction } : {}),
    ...(owner ? { owner } : {}),
    state,
    rules: c.rules.map((r, i) => {
      const o = r.policy || r.pod ? r : origin.get(r.hash);
      return {
        rule: i + 1,
        ...ruleParts(r.text),
        ...(o?.policy ? { policy: o.policy } : {}),
        ...(o?.pod ? { pod: o.pod } : {}),
        ...(a && d && !desiredHashes.has(r.hash) ? { extra: true } : {}),
      };
    }),
    missingRules:
      a && d ? d.rules.filter((r) => !actualHashes.has(r.hash)).map((r) => ruleParts(r.text)) : [],
  };
}

function setRow(
  d: IpSetView | undefined,
  a: IpSetView | undefined,
  users: ReturnType<typeof setUsers>,
): SetRow {
  const s = (a ?? d)!;
  const peerSet = d?.peerSet ?? a?.peerSet;
  const have = new Set(a?.members ?? []);
  const want = new Set(d?.members ?? []);
  return {
    family: s.family,
    name: s.name,
    type: s.type,
    role: s.role,
    ...(s.direction ? { direction: s.direction } : {}),
    ...(peerSet ? { selects: selectsText(peerSet.def), peerSet: peerSet.key } : {}),
    policies: [...(users.get(s.name)?.policies ?? [])].sort(),
    chains: [...(users.get(s.name)?.chains ?? [])].sort(),
    state: setState(d, a),
    members: s.members,
    missingMembers: a && d ? d.members.filter((m) => !have.has(m)) : [],
    extraMembers: a && d ? a.members.filter((m) => !want.has(m)) : [],
  };
}

function hookRows(desired: readonly HookView[], actual: readonly HookView[]): HookRow[] {
  const rows: HookRow[] = [];
  for (const want of desired) {
    const have = actual.filter((h) => h.family === want.family && h.builtin === want.builtin);
    const position = have.length > 0 ? Math.min(...have.map((h) => h.position)) : null;
    rows.push({
      family: want.family,
      builtin: want.builtin,
      target: want.target,
      position,
      state: position === null ? 'missing' : position === 1 && have.length === 1 ? 'in sync' : 'not first',
    });
  }
  for (const h of actual) {
    if (desired.some((d) => d.family === h.family && d.builtin === h.builtin)) continue;
    rows.push({
      family: h.family,
      builtin: h.builtin,
      target: h.target,
      position: h.position,
      state: 'not desired',
    });
  }
  return rows;
}

export function inventory(desired: DataplaneView, actual: DataplaneView): Inventory {
  const users = setUsers(desired);
  const dChains = new Map(desired.chains.map((c) => [key(c.family, c.name), c]));
  const aChains = new Map(actual.chains.map((c) => [key(c.family, c.name), c]));
  const chainKeys = [...new Set([...dChains.keys(), ...aChains.keys()])];
  const dSets = new Map(desired.ipsets.map((s) => [s.name, s]));
  const aSets = new Map(actual.ipsets.map((s) => [s.name, s]));
  const setNames = [...new Set([...dSets.keys(), ...aSets.keys()])].sort();
  const chains = chainKeys
    .map((k) => chainRow(dChains.get(k), aChains.get(k)))
    .sort((x, y) => x.family - y.family || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  return {
    backend: desired.backend ?? 'iptables',
    chains,
    ipsets: setNames.map((n) => setRow(dSets.get(n), aSets.get(n), users)),
    hooks: hookRows(desired.hooks, actual.hooks),
  };
}
