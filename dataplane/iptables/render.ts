/**
 * Rendering: IR objects to chains, rules and ipsets of one IP family. Pure functions; each
 * output depends only on its one input object (and, for references, on other objects' keys and
 * names), so DesiredState can cache it per object and redo only what a delta names.
 *
 * Packet path (see README.md for the drawing):
 *   FORWARD ─1st rule─▶ PALISADE-FORWARD   (INPUT/OUTPUT: pod ↔ own node, always allowed)
 *     ESTABLISHED,RELATED → RETURN; IPv6 neighbour discovery → RETURN
 *     src ∈ PALISADE-ISO-EG-f → PALISADE-EGRESS ─(-g by source)─▶ pod egress chain
 *     dst ∈ PALISADE-ISO-IN-f → PALISADE-INGRESS ─(-g by dest)─▶ pod ingress chain   (FORWARD only)
 *   pod chain: own address → RETURN; clear the mark bits; then the tiers in evaluation order:
 *     Admin ClusterNetworkPolicies (-j CNP chain unless the pass bit is set; allow bit set →
 *     -g PALISADE-ACCEPTED), then, if NetworkPolicies isolate the pod, each policy (-j policy
 *     chain; allow bit → -g PALISADE-ACCEPTED) and DROP; otherwise Baseline ClusterNetwork-
 *     Policies (allow or pass bit → -g PALISADE-ACCEPTED) and finally -g PALISADE-ACCEPTED
 *     (nothing decided: the default allows). PALISADE-ACCEPTED clears the bits and returns to
 *     PALISADE-FORWARD.
 *   policy chain: one rule per (peer set, port match); a match does -g PALISADE-ALLOW (sets the bit).
 *   CNP chain: one rule per (rule, peer set, port match) in written order; Accept does -g
 *     PALISADE-ALLOW, Pass -g PALISADE-PASS (sets the pass bit), Deny DROP.
 * Our chains only ever DROP or RETURN: other tools' rules still see every packet we allow.
 */
import type {
  CompiledClusterPolicy,
  CompiledPolicy,
  CompiledRule,
  CompiledTierRule,
  PeerSet,
  PeerSetDef,
  PeerSetKey,
  PodRules,
  PortMatch,
} from '../../compiler/ir';
import type { IPFamily } from '../api';
import type { IsolationEntry, PodRender as SharedPodRender, Renderer } from '../desired';
import { canonicalIP, canonicalIPPort, familyOf, netEntries, parseCIDR } from '../ip';
import type { Chain, HookRule, KernelSet, Rule, TableKey } from '../model';
import { RULE_HASH_TAG, peerSetFamilies, peerSetTail, ruleHash } from '../names';
import {
  type MarkOptions,
  type PolicyLookup,
  clusterPolicyHasDirection,
  enforcedPolicies,
  markMask,
  passBitOf,
  policyHasDirection,
} from '../tiers';
import {
  CHAIN_ACCEPTED,
  CHAIN_ALLOW,
  CHAIN_EGRESS,
  CHAIN_FORWARD,
  CHAIN_INGRESS,
  CHAIN_PASS,
  clusterPolicyChainName,
  type Direction,
  HOOKS,
  isolationSetName,
  peerSetName,
  podChainName,
  policyChainName,
} from './names';

export type SetType = 'hash:ip' | 'hash:net' | 'hash:ip,port';

/** xt_comment allows 256 bytes; keep the human part well inside. */
const MAX_COMMENT_TEXT = 200;

export type RenderOptions = MarkOptions;

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * One rule. `head` holds the address and protocol matches (-s, -d, -p), which iptables-save
 * always prints first; `matches` the -m matches, printed in the order given, after the comment.
 */
export function makeRule(
  parts: { head?: readonly string[]; matches?: readonly string[]; target: string },
  human: string,
  origin: { policy?: string; clusterPolicy?: string; pod?: string } = {},
): Rule {
  const head = parts.head ?? [];
  const matches = parts.matches ?? [];
  const text = human.replace(/["\\]/g, '').slice(0, MAX_COMMENT_TEXT);
  // The human part is hashed too: a rule whose origin changed is rewritten, so the kernel's
  // comments always say where each rule comes from now.
  const hash = ruleHash([...head, ...matches, parts.target].join(' '), text);
  const comment = `-m comment --comment "${RULE_HASH_TAG}${hash} ${text}"`;
  const body = [...head, comment, ...matches, parts.target].join(' ');
  return {
    body,
    hash,
    ...(origin.policy ? { policy: origin.policy } : {}),
    ...(origin.clusterPolicy ? { clusterPolicy: origin.clusterPolicy } : {}),
    ...(origin.pod ? { pod: origin.pod } : {}),
  };
}

function hostPrefix(address: string): string {
  return `${address}/${familyOf(address) === 4 ? 32 : 128}`;
}

// ---------------------------------------------------------------------------------------------
// Fixed chains and hooks

export function renderHooks(): HookRule[] {
  return HOOKS.map((h) => {
    const r = makeRule({ target: `-j ${h.target}` }, `palisade: network policy (${h.builtin})`);
    return { builtin: h.builtin, target: h.target, body: r.body, hash: r.hash, position: 1 };
  });
}

function entryRules(family: IPFamily, hook: string): Rule[] {
  const rules = [
    makeRule(
      { matches: ['-m conntrack --ctstate RELATED,ESTABLISHED'], target: '-j RETURN' },
      `palisade: ${hook} replies of established connections`,
    ),
  ];
  if (family === 6) {
    // Neighbour discovery is not tracked; an isolated pod on a bridge must still resolve neighbours.
    for (const type of [133, 134, 135, 136]) {
      rules.push(
        makeRule(
          { head: ['-p ipv6-icmp'], matches: [`-m icmp6 --icmpv6-type ${type}`], target: '-j RETURN' },
          `palisade: ${hook} neighbour discovery`,
        ),
      );
    }
  }
  rules.push(
    makeRule(
      {
        matches: [`-m set --match-set ${isolationSetName('egress', family)} src`],
        target: `-j ${CHAIN_EGRESS}`,
      },
      `palisade: ${hook} egress of isolated local pods`,
    ),
  );
  return rules;
}

/** The constant chains of one family; the dispatch chains are built by `renderDispatchChain`. */
export function renderFixedChains(family: IPFamily, opts: RenderOptions): Chain[] {
  const bit = hex(opts.markBit);
  const pass = hex(passBitOf(opts.markBit));
  const both = hex(markMask(opts));
  const forward = [
    ...entryRules(family, 'forward'),
    makeRule(
      {
        matches: [`-m set --match-set ${isolationSetName('ingress', family)} dst`],
        target: `-j ${CHAIN_INGRESS}`,
      },
      'palisade: forward ingress of isolated local pods',
    ),
  ];
  return [
    { name: CHAIN_FORWARD, table: family, family, kind: 'fixed', rules: forward },
    {
      name: CHAIN_ALLOW,
      table: family,
      family,
      kind: 'fixed',
      rules: [makeRule({ target: `-j MARK --set-xmark ${bit}/${bit}` }, 'palisade: a policy rule allows')],
    },
    {
      name: CHAIN_PASS,
      table: family,
      family,
      kind: 'fixed',
      rules: [
        makeRule({ target: `-j MARK --set-xmark ${pass}/${pass}` }, 'palisade: a cluster policy rule passes'),
      ],
    },
    {
      name: CHAIN_ACCEPTED,
      table: family,
      family,
      kind: 'fixed',
      rules: [makeRule({ target: `-j MARK --set-xmark 0x0/${both}` }, 'palisade: allowed, clear the marks')],
    },
  ];
}

/** Last rule of a dispatch chain: an isolated address whose pod chain is not there yet is dropped. */
export function dispatchDefaultRule(direction: Direction): Rule {
  return makeRule({ target: '-j DROP' }, `palisade: isolated for ${direction}, no pod chain`);
}

/**
 * A dispatch chain: one rule per isolated local address, ordered by rule hash (an order both a
 * full render and incremental inserts can keep without knowing each other), then the default.
 */
export function renderDispatchChain(family: IPFamily, direction: Direction, podRules: Iterable<Rule>): Chain {
  const rules = [...podRules].sort(compareRuleHash);
  rules.push(dispatchDefaultRule(direction));
  return {
    name: direction === 'ingress' ? CHAIN_INGRESS : CHAIN_EGRESS,
    table: family,
    family,
    kind: 'dispatch',
    direction,
    rules,
  };
}

export function compareRuleHash(a: { hash: string }, b: { hash: string }): number {
  return a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Pods

export interface PodRender {
  readonly chains: Chain[];
  /** Rules for the dispatch chains, one per address of this family. */
  readonly dispatch: { readonly ingress: Rule[]; readonly egress: Rule[] };
  /** Entries of the isolation sets. */
  readonly isolated: { readonly ingress: string[]; readonly egress: string[] };
}

export function renderPod(
  pod: PodRules,
  family: IPFamily,
  lookup: PolicyLookup,
  opts: RenderOptions,
): PodRender {
  const out: PodRender = {
    chains: [],
    dispatch: { ingress: [], egress: [] },
    isolated: { ingress: [], egress: [] },
  };
  const ips = pod.ips.filter((ip) => familyOf(ip) === family).map(canonicalIP);
  if (ips.length === 0) return out;
  const bit = hex(opts.markBit);
  const pass = hex(passBitOf(opts.markBit));
  const both = hex(markMask(opts));
  const who = `pod ${pod.key}`;
  for (const direction of ['ingress', 'egress'] as const) {
    const { policyKeys, admin, baseline } = enforcedPolicies(pod, direction, lookup);
    if (policyKeys.length + admin.length + baseline.length === 0) continue;
    const chainName = podChainName(pod.key, pod.name, direction);
    const rules: Rule[] = [];
    for (const ip of ips) {
      rules.push(
        makeRule(
          { head: [`${direction === 'ingress' ? '-s' : '-d'} ${hostPrefix(ip)}`], target: '-j RETURN' },
          `${who}: traffic to itself`,
          { pod: pod.key },
        ),
      );
    }
    rules.push(
      makeRule({ target: `-j MARK --set-xmark 0x0/${both}` }, `${who}: clear the verdict marks`, {
        pod: pod.key,
      }),
    );
    // 1. Admin tier, in (priority, name) order. Once a Pass rule matched, the rest of the tier is skipped.
    let first = true;
    for (const key of admin) {
      const cp = lookup.clusterPolicies.get(key);
      if (!clusterPolicyHasDirection(cp, direction)) continue;
      const origin = { pod: pod.key, clusterPolicy: key };
      rules.push(
        makeRule(
          {
            matches: first ? [] : [`-m mark --mark 0x0/${pass}`],
            target: `-j ${clusterPolicyChainName(key, direction)}`,
          },
          `${who}: admin cluster policy ${key}`,
          origin,
        ),
      );
      rules.push(
        makeRule(
          { matches: [`-m mark --mark ${bit}/${bit}`], target: `-g ${CHAIN_ACCEPTED}` },
          `${who}: accepted by admin cluster policy ${key}`,
          origin,
        ),
      );
      first = false;
    }
    // 2. NetworkPolicy tier: when any policy isolates the pod, their union decides.
    if (policyKeys.length > 0) {
      for (const key of policyKeys) {
        const policy = lookup.policies.get(key);
        if (!policyHasDirection(policy, direction)) continue;
        const target = policyChainName(policy.key, policy.name, direction);
        rules.push(
          makeRule({ target: `-j ${target}` }, `${who}: policy ${key}`, { pod: pod.key, policy: key }),
        );
        rules.push(
          makeRule(
            { matches: [`-m mark --mark ${bit}/${bit}`], target: `-g ${CHAIN_ACCEPTED}` },
            `${who}: allowed by ${key}`,
            { pod: pod.key, policy: key },
          ),
        );
      }
      rules.push(makeRule({ target: '-j DROP' }, `${who}: no policy allows ${direction}`, { pod: pod.key }));
    } else {
      // 3. Baseline tier; a Pass ends it like an Accept: the default allows.
      let clearedPass = first;
      for (const key of baseline) {
        const cp = lookup.clusterPolicies.get(key);
        if (!clusterPolicyHasDirection(cp, direction)) continue;
        const origin = { pod: pod.key, clusterPolicy: key };
        if (!clearedPass) {
          rules.push(
            makeRule({ target: `-j MARK --set-xmark 0x0/${pass}` }, `${who}: end of the admin tier`, {
              pod: pod.key,
            }),
          );
          clearedPass = true;
        }
        rules.push(
          makeRule(
            { target: `-j ${clusterPolicyChainName(key, direction)}` },
            `${who}: baseline cluster policy ${key}`,
            origin,
          ),
        );
        rules.push(
          makeRule(
            { matches: [`-m mark --mark ${bit}/${bit}`], target: `-g ${CHAIN_ACCEPTED}` },
            `${who}: accepted by baseline cluster policy ${key}`,
            origin,
          ),
        );
        rules.push(
          makeRule(
            { matches: [`-m mark --mark ${pass}/${pass}`], target: `-g ${CHAIN_ACCEPTED}` },
            `${who}: passed by baseline cluster policy ${key}`,
            origin,
          ),
        );
      }
      // 4. No tier decided: allowed.
      rules.push(
        makeRule({ target: `-g ${CHAIN_ACCEPTED}` }, `${who}: no tier decided, allowed by default`, {
          pod: pod.key,
        }),
      );
    }
    out.chains.push({
      name: chainName,
      table: family,
      family,
      kind: 'pod',
      direction,
      owner: pod.key,
      rules,
    });
    for (const ip of ips) {
      out.dispatch[direction].push(
        makeRule(
          { head: [`${direction === 'ingress' ? '-d' : '-s'} ${hostPrefix(ip)}`], target: `-g ${chainName}` },
          who,
          { pod: pod.key },
        ),
      );
      out.isolated[direction].push(ip);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Peer sets

export function setTypeOf(kind: PeerSetDef['kind']): SetType {
  return kind === 'pods' || kind === 'nodes' ? 'hash:ip' : kind === 'cidr' ? 'hash:net' : 'hash:ip,port';
}

export { peerSetFamilies };

/** The ipset name of a peer set in a family, or undefined when it has no set there. */
export function peerSetNameIn(ps: PeerSet, family: IPFamily): string | undefined {
  if (ps.def.kind === 'cidr' && familyOf(ps.def.cidr) !== family) return undefined;
  return peerSetName(ps.def.kind, family, peerSetTail(ps), ps.key);
}

/**
 * ipset elements of one raw IR member, keyed by family; a cidr member may expand to two (a /0).
 * Returns [] for a member of another family than asked.
 */
export function memberEntries(ps: PeerSet, member: string, family: IPFamily): string[] {
  switch (ps.def.kind) {
    case 'pods':
    case 'nodes':
      return familyOf(member) === family ? [canonicalIP(member)] : [];
    case 'namedPort': {
      const e = canonicalIPPort(member);
      return e.family === family ? [e.entry] : [];
    }
    case 'cidr': {
      const except = member.startsWith('!');
      const net = parseCIDR(except ? member.slice(1) : member);
      if (net.family !== family) return [];
      return netEntries(net).map((e) => (except ? `${e} nomatch` : e));
    }
  }
}

export function renderPeerSet(ps: PeerSet, family: IPFamily): KernelSet | undefined {
  const name = peerSetNameIn(ps, family);
  if (!name) return undefined;
  const members = new Set<string>();
  if (ps.def.kind === 'cidr') {
    // An except equal to the cidr excludes it: the nomatch form of an element wins.
    const byElement = new Map<string, string>();
    for (const m of ps.members) {
      for (const e of memberEntries(ps, m, family)) {
        const element = e.endsWith(' nomatch') ? e.slice(0, -8) : e;
        if (!byElement.get(element)?.endsWith(' nomatch')) byElement.set(element, e);
      }
    }
    for (const e of byElement.values()) members.add(e);
  } else {
    for (const m of ps.members) for (const e of memberEntries(ps, m, family)) members.add(e);
  }
  return {
    name,
    family,
    type: setTypeOf(ps.def.kind),
    role: 'peer',
    peerSet: { key: ps.key, def: ps.def },
    members,
  };
}

// ---------------------------------------------------------------------------------------------
// Policies

function portMatchParts(
  m: PortMatch,
  peerSets: ReadonlyMap<PeerSetKey, PeerSet>,
  family: IPFamily,
): { head: string[]; matches: string[] } | undefined {
  const proto = m.protocol.toLowerCase();
  if (m.kind === 'named') {
    const ps = peerSets.get(m.set);
    const setName = ps && peerSetNameIn(ps, family);
    if (!setName) return undefined;
    return { head: [`-p ${proto}`], matches: [`-m set --match-set ${setName} dst,dst`] };
  }
  if (m.port === undefined) return { head: [`-p ${proto}`], matches: [] };
  const ports = m.endPort !== undefined && m.endPort !== m.port ? `${m.port}:${m.endPort}` : String(m.port);
  return { head: [`-p ${proto}`], matches: [`-m ${proto} --dport ${ports}`] };
}

function ruleLines(
  policy: CompiledPolicy,
  direction: Direction,
  rule: CompiledRule,
  peerSets: ReadonlyMap<PeerSetKey, PeerSet>,
  family: IPFamily,
): Rule[] {
  const human = `${policy.key} ${direction} rule ${rule.index}`;
  const peerMatches: string[][] = [];
  if (rule.peers === 'any') {
    peerMatches.push([]);
  } else {
    for (const key of rule.peers) {
      const ps = peerSets.get(key);
      const setName = ps && peerSetNameIn(ps, family);
      if (setName)
        peerMatches.push([`-m set --match-set ${setName} ${direction === 'ingress' ? 'src' : 'dst'}`]);
    }
  }
  const portParts: { head: string[]; matches: string[] }[] = [];
  if (rule.ports === 'any') {
    portParts.push({ head: [], matches: [] });
  } else {
    for (const m of rule.ports) {
      const p = portMatchParts(m, peerSets, family);
      if (p) portParts.push(p);
    }
  }
  const out: Rule[] = [];
  for (const peer of peerMatches) {
    for (const port of portParts) {
      out.push(
        makeRule(
          { head: port.head, matches: [...peer, ...port.matches], target: `-g ${CHAIN_ALLOW}` },
          human,
          {
            policy: policy.key,
          },
        ),
      );
    }
  }
  return out;
}

/** The chains of one policy in one family: one per direction the policy has. */
export function renderPolicy(
  policy: CompiledPolicy,
  peerSets: ReadonlyMap<PeerSetKey, PeerSet>,
  family: IPFamily,
): Chain[] {
  const chains: Chain[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    const rules = direction === 'ingress' ? policy.ingress : policy.egress;
    if (rules === null) continue;
    const out: Rule[] = [];
    for (const r of rules)
      for (const line of ruleLines(policy, direction, r, peerSets, family)) out.push(line);
    chains.push({
      name: policyChainName(policy.key, policy.name, direction),
      table: family,
      family,
      kind: 'policy',
      direction,
      owner: policy.key,
      rules: out,
    });
  }
  return chains;
}

// ---------------------------------------------------------------------------------------------
// ClusterNetworkPolicies

function tierRuleTarget(rule: CompiledTierRule): string {
  switch (rule.action) {
    case 'Accept':
      return `-g ${CHAIN_ALLOW}`;
    case 'Pass':
      return `-g ${CHAIN_PASS}`;
    case 'Deny':
      return '-j DROP';
  }
}

function tierRuleLines(
  cp: CompiledClusterPolicy,
  direction: Direction,
  rule: CompiledTierRule,
  peerSets: ReadonlyMap<PeerSetKey, PeerSet>,
  family: IPFamily,
): Rule[] {
  // Rule names are free text (up to 100 characters of anything): never put them in kernel
  // input. The index maps back to the name through the compiled state.
  const human = `cnp ${cp.key} ${direction} rule ${rule.index} ${rule.action}`;
  const peerMatches: string[][] = [];
  if (rule.peers === 'any') {
    peerMatches.push([]);
  } else {
    for (const key of rule.peers) {
      const ps = peerSets.get(key);
      const setName = ps && peerSetNameIn(ps, family);
      if (setName)
        peerMatches.push([`-m set --match-set ${setName} ${direction === 'ingress' ? 'src' : 'dst'}`]);
    }
  }
  const portParts: { head: string[]; matches: string[] }[] = [];
  if (rule.ports === 'any') {
    portParts.push({ head: [], matches: [] });
  } else {
    for (const m of rule.ports) {
      const p = portMatchParts(m, peerSets, family);
      if (p) portParts.push(p);
    }
  }
  const out: Rule[] = [];
  for (const peer of peerMatches) {
    for (const port of portParts) {
      out.push(
        makeRule(
          { head: port.head, matches: [...peer, ...port.matches], target: tierRuleTarget(rule) },
          human,
          {
            clusterPolicy: cp.key,
          },
        ),
      );
    }
  }
  return out;
}

/** The chains of one ClusterNetworkPolicy in one family: one per direction it has rules for. */
export function renderClusterPolicy(
  cp: CompiledClusterPolicy,
  peerSets: ReadonlyMap<PeerSetKey, PeerSet>,
  family: IPFamily,
): Chain[] {
  const chains: Chain[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    const rules = direction === 'ingress' ? cp.ingress : cp.egress;
    if (rules === null) continue;
    const out: Rule[] = [];
    for (const r of rules)
      for (const line of tierRuleLines(cp, direction, r, peerSets, family)) out.push(line);
    chains.push({
      name: clusterPolicyChainName(cp.key, direction),
      table: family,
      family,
      kind: 'clusterPolicy',
      direction,
      owner: cp.key,
      rules: out,
    });
  }
  return chains;
}

/** The (empty) isolation sets of a family; DesiredState fills them from the pods. */
export function renderIsolationSets(family: IPFamily): KernelSet[] {
  return (['ingress', 'egress'] as const).map((direction) => ({
    name: isolationSetName(direction, family),
    family,
    type: 'hash:ip' as const,
    role: 'isolation' as const,
    direction,
    members: new Set<string>(),
  }));
}

/** The iptables backend's rendering, as DesiredState consumes it. */
export function iptablesRenderer(families: readonly IPFamily[], opts: RenderOptions): Renderer {
  const isolation = (ips: readonly string[]): IsolationEntry[] => ips.map((ip) => ({ key: ip, element: ip }));
  return {
    families,
    tables: families,
    tableOf: (family: IPFamily): TableKey => family,
    fixedChains: () => families.flatMap((f) => renderFixedChains(f, opts)),
    hooks: () => new Map<TableKey, HookRule[]>(families.map((f) => [f, renderHooks()])),
    isolationSets: renderIsolationSets,
    isolationSetName,
    dispatchChain: renderDispatchChain,
    pod(pod, family, lookup): SharedPodRender {
      const r = renderPod(pod, family, lookup, opts);
      return {
        chains: r.chains,
        dispatch: r.dispatch,
        isolated: { ingress: isolation(r.isolated.ingress), egress: isolation(r.isolated.egress) },
      };
    },
    policy: renderPolicy,
    clusterPolicy: renderClusterPolicy,
    peerSetFamilies,
    peerSet: renderPeerSet,
    memberEntries,
  };
}
