/**
 * Rendering for nftables: IR objects to chains, rules (as RuleExpr, printed canonically) and sets
 * of one IP family in Palisade's inet table. Pure functions, the same decisions as the iptables
 * backend (../tiers.ts), in nft's words:
 *
 *   forward-<f> (base chain, hook forward, priority -1, policy accept; one per family)
 *     ct state established,related accept            (replies; accept ends only our base chain)
 *     (IPv6) icmpv6 type { neighbour discovery } accept
 *     ip saddr vmap @egress-<f>   ─jump─▶ pod-eg<f>-…  returns only when egress is allowed
 *     ip daddr vmap @ingress-<f>  ─jump─▶ pod-in<f>-…  (a jump, so ingress is decided too)
 *   pod chain: own address → return; clear both mark bits; the tiers (see ../tiers.ts) with
 *     `jump` to policy chains and `goto accepted-<f>` once decided; `drop` when denied.
 *   policy / CNP chain: one rule per (rule, peer set, port match); Accept and NetworkPolicy rules
 *     set the allow bit and return, Pass sets the pass bit and returns, Deny drops.
 *   accepted-<f>: clears both bits (the packet leaves with the mark it came with) and returns.
 *
 * Everything that reaches nft text is generated (names) or validated here (addresses through
 * ../ip.ts, ports as integers 0–65535, protocols from a closed list, comments filtered).
 */
import type {
  CompiledClusterPolicy,
  CompiledPolicy,
  CompiledRule,
  CompiledTierRule,
  PeerSet,
  PeerSetKey,
  PodRules,
  PortMatch,
} from '../../compiler/ir';
import type { Protocol } from '../../compiler/model';
import type { IPFamily } from '../api';
import type { IsolationEntry, PodRender, Renderer } from '../desired';
import { canonicalIP, canonicalIPPort, familyOf } from '../ip';
import type { BaseChainSpec, Chain, KernelSet, Rule, TableKey } from '../model';
import { type Direction, RULE_HASH_TAG, peerSetFamilies, peerSetTail, ruleHash } from '../names';
import {
  type MarkOptions,
  type PolicyLookup,
  clusterPolicyHasDirection,
  enforcedPolicies,
  markMask,
  passBitOf,
  policyHasDirection,
} from '../tiers';
import { cidrMinus, intervalText } from './intervals';
import {
  acceptedChainName,
  baseChainName,
  clusterPolicyChainName,
  dispatchMapName,
  peerSetName,
  podChainName,
  policyChainName,
} from './names';
import {
  type L4,
  type Match,
  type RuleExpr,
  type Statement,
  type Verdict,
  commentText,
  printRule,
} from './rules';

/** Just before the iptables filter table's FORWARD (priority 0), where the iptables backend hooks. */
export const BASE_PRIORITY = -1;

export const BASE_CHAIN: BaseChainSpec = {
  type: 'filter',
  hook: 'forward',
  priority: BASE_PRIORITY,
  policy: 'accept',
};

export type NftRenderOptions = MarkOptions;

/** The human part of a comment: what fits beside "pl:<hash> " in nft's 127 characters. */
const MAX_HUMAN = 127 - RULE_HASH_TAG.length - 11;

/**
 * One rule: its text without the comment and the human comment are hashed together, and the
 * hash leads the comment, so read-back can both identify the rule and check its content.
 */
export function makeRule(
  expr: { matches?: readonly Match[]; statements?: readonly Statement[]; verdict?: Verdict },
  human: string,
  origin: { policy?: string; clusterPolicy?: string; pod?: string } = {},
): Rule {
  const text = commentText(human).slice(0, MAX_HUMAN);
  const bare: RuleExpr = {
    matches: expr.matches ?? [],
    statements: expr.statements ?? [],
    ...(expr.verdict ? { verdict: expr.verdict } : {}),
  };
  const hash = ruleHash(printRule(bare), text);
  return {
    body: printRule({ ...bare, comment: `${RULE_HASH_TAG}${hash} ${text}` }),
    hash,
    ...(origin.policy ? { policy: origin.policy } : {}),
    ...(origin.clusterPolicy ? { clusterPolicy: origin.clusterPolicy } : {}),
    ...(origin.pod ? { pod: origin.pod } : {}),
  };
}

const markSet = (op: '&' | '|', value: number): Statement => ({ kind: 'mark', op, value: value >>> 0 });
const markIs = (bit: number): Match => ({ kind: 'mark', mask: bit, value: bit });
const markClear = (bit: number): Match => ({ kind: 'mark', mask: bit, value: 0 });

// ---------------------------------------------------------------------------------------------
// Fixed chains and maps

export function renderFixedChains(family: IPFamily, opts: NftRenderOptions): Chain[] {
  const forward: Rule[] = [
    makeRule(
      { matches: [{ kind: 'ct', states: ['established', 'related'] }], verdict: { kind: 'accept' } },
      'palisade: replies of established connections',
    ),
  ];
  if (family === 6) {
    // Neighbour discovery is not tracked; an isolated pod on a bridge must still resolve neighbours.
    forward.push(
      makeRule(
        {
          matches: [
            {
              kind: 'icmpv6',
              types: ['nd-router-solicit', 'nd-router-advert', 'nd-neighbor-solicit', 'nd-neighbor-advert'],
            },
          ],
          verdict: { kind: 'accept' },
        },
        'palisade: neighbour discovery',
      ),
    );
  }
  forward.push(
    makeRule(
      { verdict: { kind: 'vmap', family, field: 'saddr', map: dispatchMapName('egress', family) } },
      'palisade: egress of isolated local pods',
    ),
    makeRule(
      { verdict: { kind: 'vmap', family, field: 'daddr', map: dispatchMapName('ingress', family) } },
      'palisade: ingress of isolated local pods',
    ),
  );
  const both = markMask(opts);
  return [
    { name: baseChainName(family), table: 'inet', family, kind: 'fixed', base: BASE_CHAIN, rules: forward },
    {
      name: acceptedChainName(family),
      table: 'inet',
      family,
      kind: 'fixed',
      rules: [makeRule({ statements: [markSet('&', ~both)] }, 'palisade: allowed, clear the marks')],
    },
  ];
}

const addrType = (family: IPFamily): string => (family === 4 ? 'ipv4_addr' : 'ipv6_addr');

/** The (empty) dispatch maps of a family; DesiredState fills them from the pods. */
export function renderDispatchMaps(family: IPFamily): KernelSet[] {
  return (['ingress', 'egress'] as const).map((direction) => ({
    name: dispatchMapName(direction, family),
    family,
    type: `${addrType(family)} : verdict`,
    role: 'isolation' as const,
    direction,
    members: new Set<string>(),
  }));
}

// ---------------------------------------------------------------------------------------------
// Pods

export function renderPod(
  pod: PodRules,
  family: IPFamily,
  lookup: PolicyLookup,
  opts: NftRenderOptions,
): PodRender {
  const out: { chains: Chain[]; isolated: { ingress: IsolationEntry[]; egress: IsolationEntry[] } } = {
    chains: [],
    isolated: { ingress: [], egress: [] },
  };
  const ips = pod.ips.filter((ip) => familyOf(ip) === family).map(canonicalIP);
  if (ips.length === 0) return { ...out, dispatch: { ingress: [], egress: [] } };
  const bit = opts.markBit;
  const pass = passBitOf(opts.markBit);
  const both = markMask(opts);
  const accepted: Verdict = { kind: 'goto', target: acceptedChainName(family) };
  const who = `pod ${pod.key}`;
  for (const direction of ['ingress', 'egress'] as const) {
    const { policyKeys, admin, baseline } = enforcedPolicies(pod, direction, lookup);
    if (policyKeys.length + admin.length + baseline.length === 0) continue;
    const chainName = podChainName(pod.key, pod.name, direction, family);
    const origin = { pod: pod.key };
    const rules: Rule[] = [];
    for (const ip of ips) {
      rules.push(
        makeRule(
          {
            matches: [
              { kind: 'addr', family, field: direction === 'ingress' ? 'saddr' : 'daddr', prefix: ip },
            ],
            verdict: { kind: 'return' },
          },
          `${who}: traffic to itself`,
          origin,
        ),
      );
    }
    rules.push(makeRule({ statements: [markSet('&', ~both)] }, `${who}: clear the verdict marks`, origin));
    // 1. Admin tier, in (priority, name) order. Once a Pass rule matched, the rest of the tier is skipped.
    let first = true;
    for (const key of admin) {
      const cp = lookup.clusterPolicies.get(key);
      if (!clusterPolicyHasDirection(cp, direction)) continue;
      const o = { pod: pod.key, clusterPolicy: key };
      rules.push(
        makeRule(
          {
            matches: first ? [] : [markClear(pass)],
            verdict: { kind: 'jump', target: clusterPolicyChainName(key, direction, family) },
          },
          `${who}: admin cluster policy ${key}`,
          o,
        ),
      );
      rules.push(
        makeRule(
          { matches: [markIs(bit)], verdict: accepted },
          `${who}: accepted by admin cluster policy ${key}`,
          o,
        ),
      );
      first = false;
    }
    // 2. NetworkPolicy tier: when any policy isolates the pod, their union decides.
    if (policyKeys.length > 0) {
      for (const key of policyKeys) {
        const policy = lookup.policies.get(key);
        if (!policyHasDirection(policy, direction)) continue;
        const o = { pod: pod.key, policy: key };
        const target = policyChainName(policy.key, policy.name, direction, family);
        rules.push(makeRule({ verdict: { kind: 'jump', target } }, `${who}: policy ${key}`, o));
        rules.push(makeRule({ matches: [markIs(bit)], verdict: accepted }, `${who}: allowed by ${key}`, o));
      }
      rules.push(makeRule({ verdict: { kind: 'drop' } }, `${who}: no policy allows ${direction}`, origin));
    } else {
      // 3. Baseline tier; a Pass ends it like an Accept: the default allows.
      let clearedPass = first;
      for (const key of baseline) {
        const cp = lookup.clusterPolicies.get(key);
        if (!clusterPolicyHasDirection(cp, direction)) continue;
        const o = { pod: pod.key, clusterPolicy: key };
        if (!clearedPass) {
          rules.push(
            makeRule({ statements: [markSet('&', ~pass)] }, `${who}: end of the admin tier`, origin),
          );
          clearedPass = true;
        }
        rules.push(
          makeRule(
            { verdict: { kind: 'jump', target: clusterPolicyChainName(key, direction, family) } },
            `${who}: baseline cluster policy ${key}`,
            o,
          ),
        );
        rules.push(
          makeRule(
            { matches: [markIs(bit)], verdict: accepted },
            `${who}: accepted by baseline cluster policy ${key}`,
            o,
          ),
        );
        rules.push(
          makeRule(
            { matches: [markIs(pass)], verdict: accepted },
            `${who}: passed by baseline cluster policy ${key}`,
            o,
          ),
        );
      }
      // 4. No tier decided: allowed.
      rules.push(makeRule({ verdict: accepted }, `${who}: no tier decided, allowed by default`, origin));
    }
    out.chains.push({
      name: chainName,
      table: 'inet',
      family,
      kind: 'pod',
      direction,
      owner: pod.key,
      rules,
    });
    for (const ip of ips) out.isolated[direction].push({ key: ip, element: `${ip} : jump ${chainName}` });
  }
  return { ...out, dispatch: { ingress: [], egress: [] } };
}

// ---------------------------------------------------------------------------------------------
// Peer sets

/** The set name of a peer set in a family, or undefined when it has no set there. */
export function peerSetNameIn(ps: PeerSet, family: IPFamily): string | undefined {
  if (ps.def.kind === 'cidr' && familyOf(ps.def.cidr) !== family) return undefined;
  return peerSetName(ps.def.kind, family, peerSetTail(ps), ps.key);
}

function setTypeOf(ps: PeerSet, family: IPFamily): string {
  switch (ps.def.kind) {
    case 'pods':
    case 'nodes':
      return addrType(family);
    case 'cidr':
      return `${addrType(family)} interval`;
    case 'namedPort':
      return `${addrType(family)} . inet_service`;
  }
}

/** "10.0.0.5,tcp:8080" → "10.0.0.5 . 8080" for this family (and the set's protocol), else undefined. */
function addressPortElement(member: string, family: IPFamily, protocol: Protocol): string | undefined {
  const { family: f, entry } = canonicalIPPort(member);
  if (f !== family) return undefined;
  const m = /^(.*),([a-z]+):(\d+)$/.exec(entry);
  if (!m || m[2] !== protocol.toLowerCase()) return undefined;
  return `${m[1]} . ${portNumber(Number(m[3]))}`;
}

/**
 * Set elements of one raw IR member, in a family ([] for another family). cidr sets are never
 * changed member by member (DesiredState re-renders them whole), so they have none here.
 */
export function memberEntries(ps: PeerSet, member: string, family: IPFamily): string[] {
  switch (ps.def.kind) {
    case 'pods':
    case 'nodes':
      return familyOf(member) === family ? [canonicalIP(member)] : [];
    case 'namedPort': {
      const e = addressPortElement(member, family, ps.def.protocol);
      return e === undefined ? [] : [e];
    }
    case 'cidr':
      return [];
  }
}

export function renderPeerSet(ps: PeerSet, family: IPFamily): KernelSet | undefined {
  const name = peerSetNameIn(ps, family);
  if (!name) return undefined;
  const members = new Set<string>();
  if (ps.def.kind === 'cidr') {
    const { family: f, intervals } = cidrMinus(ps.def.cidr, ps.def.except);
    for (const iv of intervals) members.add(intervalText(iv, f));
  } else {
    for (const m of ps.members) for (const e of memberEntries(ps, m, family)) members.add(e);
  }
  return {
    name,
    family,
    type: setTypeOf(ps, family),
    role: 'peer',
    peerSet: { key: ps.key, def: ps.def },
    members,
  };
}

// ---------------------------------------------------------------------------------------------
// Policy chains

function portNumber(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`invalid port ${n}`);
  return n;
}

function l4Of(p: Protocol): L4 {
  const l4 = p.toLowerCase();
  if (l4 !== 'tcp' && l4 !== 'udp' && l4 !== 'sctp') throw new Error(`unsupported protocol ${p}`);
  return l4;
}

function portMatches(
  m: PortMatch,
  peerSets: ReadonlyMap<PeerSetKey, PeerSet>,
  family: IPFamily,
): Match[] | undefined {
  const proto = l4Of(m.protocol);
  if (m.kind === 'named') {
    const ps = peerSets.get(m.set);
    const set = ps && peerSetNameIn(ps, family);
    if (!set) return undefined;
    return [{ kind: 'addrPort', family, proto, set }];
  }
  if (m.port === undefined) return [{ kind: 'l4proto', proto }];
  const from = portNumber(m.port);
  const to = m.endPort !== undefined ? portNumber(m.endPort) : from;
  return [{ kind: 'port', proto, from, to: Math.max(from, to) }];
}

/** One rule per (peer set, port match) of an IR rule, each ending in `then`. */
function ruleExprs(
  direction: Direction,
  rule: { readonly peers: readonly PeerSetKey[] | 'any'; readonly ports: readonly PortMatch[] | 'any' },
  peerSets: ReadonlyMap<PeerSetKey, PeerSet>,
  family: IPFamily,
): Match[][] {
  const peers: Match[][] = [];
  if (rule.peers === 'any') {
    peers.push([]);
  } else {
    for (const key of rule.peers) {
      const ps = peerSets.get(key);
      const set = ps && peerSetNameIn(ps, family);
      if (set)
        peers.push([{ kind: 'addr', family, field: direction === 'ingress' ? 'saddr' : 'daddr', set }]);
    }
  }
  const ports: Match[][] = [];
  if (rule.ports === 'any') {
    ports.push([]);
  } else {
    for (const m of rule.ports) {
      const p = portMatches(m, peerSets, family);
      if (p) ports.push(p);
    }
  }
  const out: Match[][] = [];
  for (const peer of peers) for (const port of ports) out.push([...peer, ...port]);
  return out;
}

function policyRules(
  policy: CompiledPolicy,
  direction: Direction,
  rule: CompiledRule,
  peerSets: ReadonlyMap<PeerSetKey, PeerSet>,
  family: IPFamily,
  opts: NftRenderOptions,
): Rule[] {
  const human = `${policy.key} ${direction} rule ${rule.index}`;
  return ruleExprs(direction, rule, peerSets, family).map((matches) =>
    makeRule({ matches, statements: [markSet('|', opts.markBit)], verdict: { kind: 'return' } }, human, {
      policy: policy.key,
    }),
  );
}

/** The chains of one NetworkPolicy in one family: one per direction the policy has. */
export function renderPolicy(
  policy: CompiledPolicy,
  peerSets: ReadonlyMap<PeerSetKey, PeerSet>,
  family: IPFamily,
  opts: NftRenderOptions,
): Chain[] {
  const chains: Chain[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    const rules = direction === 'ingress' ? policy.ingress : policy.egress;
    if (rules === null) continue;
    const out: Rule[] = [];
    for (const r of rules)
      for (const x of policyRules(policy, direction, r, peerSets, family, opts)) out.push(x);
    chains.push({
      name: policyChainName(policy.key, policy.name, direction, family),
      table: 'inet',
      family,
      kind: 'policy',
      direction,
      owner: policy.key,
      rules: out,
    });
  }
  return chains;
}

function tierRuleEnd(
  rule: CompiledTierRule,
  opts: NftRenderOptions,
): { statements: Statement[]; verdict: Verdict } {
  switch (rule.action) {
    case 'Accept':
      return { statements: [markSet('|', opts.markBit)], verdict: { kind: 'return' } };
    case 'Pass':
      return { statements: [markSet('|', passBitOf(opts.markBit))], verdict: { kind: 'return' } };
    case 'Deny':
      return { statements: [], verdict: { kind: 'drop' } };
  }
}

/** The chains of one ClusterNetworkPolicy in one family: one per direction it has rules for. */
export function renderClusterPolicy(
  cp: CompiledClusterPolicy,
  peerSets: ReadonlyMap<PeerSetKey, PeerSet>,
  family: IPFamily,
  opts: NftRenderOptions,
): Chain[] {
  const chains: Chain[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    const rules = direction === 'ingress' ? cp.ingress : cp.egress;
    if (rules === null) continue;
    const out: Rule[] = [];
    for (const r of rules) {
      // Rule names are free text: never in kernel input. The index maps back to the name.
      const human = `cnp ${cp.key} ${direction} rule ${r.index} ${r.action}`;
      const end = tierRuleEnd(r, opts);
      for (const matches of ruleExprs(direction, r, peerSets, family)) {
        out.push(makeRule({ matches, ...end }, human, { clusterPolicy: cp.key }));
      }
    }
    chains.push({
      name: clusterPolicyChainName(cp.key, direction, family),
      table: 'inet',
      family,
      kind: 'clusterPolicy',
      direction,
      owner: cp.key,
      rules: out,
    });
  }
  return chains;
}

/** The nftables backend's rendering, as DesiredState consumes it. */
export function nftablesRenderer(families: readonly IPFamily[], opts: NftRenderOptions): Renderer {
  return {
    families,
    tables: ['inet'],
    tableOf: (): TableKey => 'inet',
    fixedChains: () => families.flatMap((f) => renderFixedChains(f, opts)),
    hooks: () => new Map(),
    isolationSets: renderDispatchMaps,
    isolationSetName: dispatchMapName,
    pod: (pod, family, lookup) => renderPod(pod, family, lookup, opts),
    policy: (policy, peerSets, family) => renderPolicy(policy, peerSets, family, opts),
    clusterPolicy: (cp, peerSets, family) => renderClusterPolicy(cp, peerSets, family, opts),
    peerSetFamilies,
    peerSet: renderPeerSet,
    memberEntries,
  };
}
