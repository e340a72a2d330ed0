/**
 * Rendering for nftables: IR objects to chains, rules (as RuleExpr, printed canonically) and sets
 * of one IP family in Palisade's inet table. Pure functions, the same decisions as the iptables
 * backend (../tiers.ts), in nft's words:
 *
 *   forward-<f> (base chain, hook forward, priority -1, policy accept; one per family)
 *     ct state established,related accept            (replies; accept ends only our base chain)
 *     (IPv6) icmpv6 type { neighbour discovery } accept
 *     (fail closed) ip saddr @local-<f> ip saddr != @known-<f> drop, then the same for daddr
 *       (with verdict logs: goto closed-eg<f> / closed-in<f>, which log, then drop)
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
  PeerSet,
  PeerSetKey,
  PodRules,
  PortMatch,
} from '../../compiler/ir';
import type { Protocol } from '../../compiler/model';
import type { IPFamily } from '../api';
import type { IsolationEntry, PodRender, Renderer } from '../desired';
import {
  type ClusterChainVariant,
  type LogAction,
  type Outcome,
  type Step,
  CallTargets,
  clusterRuleEnd,
  failClosedDrops,
  podEvaluations,
  podSteps,
} from '../evaluations';
import { canonicalIP, canonicalIPPort, familyOf } from '../ip';
import type { BaseChainSpec, Chain, KernelSet, Rule, TableKey } from '../model';
import { type Direction, RULE_HASH_TAG, peerSetFamilies, peerSetTail, ruleHash } from '../names';
import { type MarkOptions, type PolicyLookup, markMask, passBitOf } from '../tiers';
import {
  LOG_COPY_BYTES,
  LOG_QUEUE_THRESHOLD,
  LOG_LOGGED_COUNTER,
  LOG_SEEN_COUNTER,
  type VerdictLogOptions,
  formatPrefix,
  limitObjectName,
} from '../verdict-log';
import { cidrInterval, cidrMinus, intervalText } from './intervals';
import {
  acceptedChainName,
  baseChainName,
  clusterPolicyChainName,
  dispatchMapName,
  failClosedChainName,
  logPointChainName,
  knownSetName,
  localSetName,
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

export interface NftRenderOptions extends MarkOptions {
  /** Verdict logs (../verdict-log.ts): log points, the rate limit, audit mode; undefined = off. */
  readonly verdictLog?: VerdictLogOptions;
  /** Fail closed for new pods (sets local-<f> and known-<f>); default false: fail open. */
  readonly failClosed?: boolean;
}

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
  const failClosed = opts.failClosed ? failClosedRules(family, opts) : { rules: [], chains: [] };
  forward.push(...failClosed.rules);
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
    ...failClosed.chains,
  ];
}

const addrType = (family: IPFamily): string => (family === 4 ? 'ipv4_addr' : 'ipv6_addr');

/**
 * Fail closed for new pods (../evaluations.ts `failClosedDrops`): a forwarded packet from or to
 * an address in the node's pod ranges that no known pod holds is dropped, until the pod's rules
 * are in place; with verdict logs on, through the drop's own chain (log, then drop). Traffic
 * between the pod and its node does not take the forward hook (kubelet probes pass).
 */
export function failClosedRules(
  family: IPFamily,
  opts: NftRenderOptions,
): { rules: Rule[]; chains: Chain[] } {
  const rules: Rule[] = [];
  const chains: Chain[] = [];
  for (const d of failClosedDrops(opts.verdictLog)) {
    const field = d.end === 'source' ? 'saddr' : 'daddr';
    let verdict: Verdict = { kind: 'drop' };
    if (d.log) {
      const name = failClosedChainName(d.direction, family);
      chains.push({
        name,
        table: 'inet',
        family,
        kind: 'fixed',
        rules: [
          makeRule({ statements: logStatements(d.log, opts.verdictLog!) }, `${d.human} (log)`),
          makeRule({ verdict: { kind: 'drop' } }, d.human),
        ],
      });
      verdict = { kind: 'goto', target: name };
    }
    rules.push(
      makeRule(
        {
          matches: [
            { kind: 'addr', family, field, set: localSetName(family) },
            { kind: 'addr', family, field, set: knownSetName(family), negate: true },
          ],
          verdict,
        },
        d.human,
      ),
    );
  }
  return { rules, chains };
}

/** The (empty) sets of fail closed for new pods in a family: the pod ranges, the programmed addresses. */
export function renderNewPodSets(family: IPFamily): KernelSet[] {
  return [
    {
      name: localSetName(family),
      family,
      type: `${addrType(family)} interval`,
      role: 'local',
      members: new Set<string>(),
    },
    { name: knownSetName(family), family, type: addrType(family), role: 'known', members: new Set<string>() },
  ];
}

/** Interval elements of the node's pod ranges in one family: disjoint, overlaps merged. */
export function rangeElements(cidrs: readonly string[], family: IPFamily): string[] {
  const ivs = cidrs
    .map((c) => cidrInterval(c))
    .filter((c) => c.family === family)
    .map((c) => c.interval)
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const merged: { start: bigint; end: bigint }[] = [];
  for (const iv of ivs) {
    const last = merged[merged.length - 1];
    if (last && iv.start <= last.end + 1n) {
      if (iv.end > last.end) last.end = iv.end;
    } else merged.push({ ...iv });
  }
  return merged.map((iv) => intervalText(iv, family));
}

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
  const chains: Chain[] = [];
  const isolated: { ingress: IsolationEntry[]; egress: IsolationEntry[] } = { ingress: [], egress: [] };
  const uses = new CallTargets();
  const ips = pod.ips.filter((ip) => familyOf(ip) === family).map(canonicalIP);
  const log = opts.verdictLog;
  for (const direction of ips.length > 0 ? (['ingress', 'egress'] as const) : []) {
    const evaluations = podEvaluations(pod, direction, lookup, log);
    if (evaluations.length === 0) continue;
    for (const evaluation of evaluations) {
      const steps = podSteps(pod, direction, lookup, evaluation, log);
      uses.add(steps);
      chains.push({
        name: podChainName(pod.key, pod.name, direction, family, evaluation),
        table: 'inet',
        family,
        kind: 'pod',
        direction,
        owner: pod.key,
        rules: stepRules(pod, direction, family, ips, steps, opts),
      });
    }
    const chainName = podChainName(pod.key, pod.name, direction, family);
    for (const ip of ips) isolated[direction].push({ key: ip, element: `${ip} : jump ${chainName}` });
  }
  return { chains, isolated, dispatch: { ingress: [], egress: [] }, uses: uses.list() };
}

/** A NetworkPolicy's name (the readable tail of its chain's name) from its "namespace/name" key. */
function nameOfKey(key: string): string {
  return key.slice(key.indexOf('/') + 1);
}

/**
 * The statements that log a packet, rate-limited, in one rule: the seen counter, the node's
 * limit (the rule stops here when the bucket is empty), the logged counter, NFLOG.
 */
function logStatements(action: LogAction, log: VerdictLogOptions): Statement[] {
  return [
    { kind: 'counter', name: LOG_SEEN_COUNTER },
    { kind: 'limit', name: limitObjectName(log) },
    { kind: 'counter', name: LOG_LOGGED_COUNTER },
    {
      kind: 'log',
      prefix: formatPrefix(action.point),
      group: log.group,
      snaplen: LOG_COPY_BYTES,
      queueThreshold: LOG_QUEUE_THRESHOLD,
    },
  ];
}

const NEW_ONLY: Match = { kind: 'ct', states: ['new'] };

/** The rules of one evaluation of a pod chain (../evaluations.ts). */
function stepRules(
  pod: PodRules,
  direction: Direction,
  family: IPFamily,
  ips: readonly string[],
  steps: readonly Step[],
  opts: NftRenderOptions,
): Rule[] {
  const bit = opts.markBit;
  const pass = passBitOf(opts.markBit);
  const both = markMask(opts);
  const outcome = (o: Outcome): Verdict => {
    switch (o.kind) {
      case 'accepted':
        return { kind: 'goto', target: acceptedChainName(family) };
      case 'drop':
        return { kind: 'drop' };
      case 'return':
        return { kind: 'return' };
      case 'evaluation':
        return { kind: 'goto', target: podChainName(pod.key, pod.name, direction, family, o.evaluation) };
    }
  };
  const rules: Rule[] = [];
  for (const st of steps) {
    switch (st.kind) {
      case 'self':
        for (const ip of ips) {
          rules.push(
            makeRule(
              {
                matches: [
                  { kind: 'addr', family, field: direction === 'ingress' ? 'saddr' : 'daddr', prefix: ip },
                ],
                verdict: { kind: 'return' },
              },
              st.human,
              st.origin,
            ),
          );
        }
        break;
      case 'audit':
        rules.push(
          makeRule(
            {
              matches: [NEW_ONLY],
              verdict: {
                kind: 'jump',
                target: podChainName(pod.key, pod.name, direction, family, st.evaluation),
              },
            },
            st.human,
            st.origin,
          ),
        );
        break;
      case 'clearMarks':
        rules.push(makeRule({ statements: [markSet('&', ~both)] }, st.human, st.origin));
        break;
      case 'clearPass':
        rules.push(makeRule({ statements: [markSet('&', ~pass)] }, st.human, st.origin));
        break;
      case 'call': {
        const t = st.target;
        const target =
          t.kind === 'policy'
            ? policyChainName(t.key, nameOfKey(t.key), direction, family)
            : clusterPolicyChainName(t.key, direction, family, t.variant);
        rules.push(
          makeRule(
            { matches: st.unlessPass ? [markClear(pass)] : [], verdict: { kind: 'jump', target } },
            st.human,
            st.origin,
          ),
        );
        break;
      }
      case 'decide': {
        const guard: Match[] =
          st.when === undefined ? [] : [markIs(st.when === 'allow' ? bit : st.when === 'pass' ? pass : both)];
        if (st.log) {
          rules.push(
            makeRule(
              {
                matches: [...guard, ...(st.log.newOnly ? [NEW_ONLY] : [])],
                statements: logStatements(st.log, opts.verdictLog!),
              },
              `${st.human} (log)`,
              st.origin,
            ),
          );
        }
        rules.push(makeRule({ matches: guard, verdict: outcome(st.outcome) }, st.human, st.origin));
        break;
      }
    }
  }
  return rules;
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

/** What a cluster policy rule does once matched (../evaluations.ts ClusterRuleEnd). */
function tierRuleEnd(
  action: 'allow' | 'pass' | 'deny' | 'drop',
  opts: NftRenderOptions,
): { statements: Statement[]; verdict: Verdict } {
  switch (action) {
    case 'allow':
      return { statements: [markSet('|', opts.markBit)], verdict: { kind: 'return' } };
    case 'pass':
      return { statements: [markSet('|', passBitOf(opts.markBit))], verdict: { kind: 'return' } };
    case 'deny':
      return { statements: [markSet('|', markMask(opts))], verdict: { kind: 'return' } };
    case 'drop':
      return { statements: [], verdict: { kind: 'drop' } };
  }
}

/**
 * The chains of one variant (../evaluations.ts) of a ClusterNetworkPolicy in one family: one per
 * direction it has rules for, and one per log point its rules carry.
 */
export function renderClusterPolicy(
  cp: CompiledClusterPolicy,
  peerSets: ReadonlyMap<PeerSetKey, PeerSet>,
  family: IPFamily,
  opts: NftRenderOptions,
  variant: ClusterChainVariant = 'enforced',
): Chain[] {
  const chains: Chain[] = [];
  const origin = { clusterPolicy: cp.key };
  for (const direction of ['ingress', 'egress'] as const) {
    const rules = direction === 'ingress' ? cp.ingress : cp.egress;
    if (rules === null) continue;
    const out: Rule[] = [];
    for (const r of rules) {
      // Rule names are free text: never in kernel input. The index maps back to the name.
      const human = `cnp ${cp.key} ${direction} rule ${r.index} ${r.action}`;
      const end = clusterRuleEnd(cp, direction, r, variant, opts.verdictLog);
      let then: { statements: Statement[]; verdict: Verdict } = tierRuleEnd(end.action, opts);
      if (end.log) {
        const name = logPointChainName(end.log.point.id, direction, family);
        chains.push({
          name,
          table: 'inet',
          family,
          kind: 'clusterPolicy',
          direction,
          owner: cp.key,
          rules: [
            makeRule(
              {
                matches: end.log.newOnly ? [NEW_ONLY] : [],
                statements: logStatements(end.log, opts.verdictLog!),
              },
              `${human} (log)`,
              origin,
            ),
            makeRule(then, human, origin),
          ],
        });
        then = { statements: [], verdict: { kind: 'goto', target: name } };
      }
      for (const matches of ruleExprs(direction, r, peerSets, family)) {
        out.push(makeRule({ matches, ...then }, human, origin));
      }
    }
    chains.push({
      name: clusterPolicyChainName(cp.key, direction, family, variant),
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

/**
 * Verdict logs: the node's rate limit and the two counters around it, named objects of the table
 * (kept as sets of role `object` in the shared model; `type` is the declaration).
 */
export function renderLogObjects(opts: NftRenderOptions): KernelSet[] {
  const log = opts.verdictLog;
  if (!log) return [];
  const object = (name: string, type: string): KernelSet => ({
    name,
    family: 4,
    type,
    role: 'object',
    members: new Set(),
  });
  return [
    object(limitObjectName(log), `limit rate ${log.ratePerSecond}/second burst ${log.burst} packets`),
    object(LOG_SEEN_COUNTER, 'counter'),
    object(LOG_LOGGED_COUNTER, 'counter'),
  ];
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
    objects: () => renderLogObjects(opts),
    pod: (pod, family, lookup) => renderPod(pod, family, lookup, opts),
    policy: (policy, peerSets, family) => renderPolicy(policy, peerSets, family, opts),
    clusterPolicy: (cp, peerSets, family, variant) =>
      renderClusterPolicy(cp, peerSets, family, opts, variant),
    peerSetFamilies,
    peerSet: renderPeerSet,
    memberEntries,
    ...(opts.failClosed
      ? {
          newPods: {
            sets: renderNewPodSets,
            localSetName,
            knownSetName,
            rangeElements,
            knownElement: canonicalIP,
          },
        }
      : {}),
  };
}
