/**
 * Rendering: IR objects to chains, rules and ipsets of one IP family. Pure functions; each
 * output depends only on its one input object (and, for references, on other objects' keys and
 * names), so DesiredState can cache it per object and redo only what a delta names.
 *
 * Packet path (see README.md for the drawing):
 *   FORWARD ─1st rule─▶ PALISADE-FORWARD   (INPUT/OUTPUT: pod ↔ own node, always allowed)
 *     ESTABLISHED,RELATED → RETURN; IPv6 neighbour discovery → RETURN
 *     (fail closed) src, then dst ∈ PALISADE-LOCAL-f and ∉ PALISADE-KNOWN-f → DROP (with verdict
 *       logs: -g the drop's log point chain, which logs, then drops)
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
import { pendingLogPoint } from '../log-points';
import { canonicalIP, canonicalIPPort, familyOf, netEntries, parseCIDR } from '../ip';
import type { Chain, HookRule, KernelSet, Rule, TableKey } from '../model';
import { RULE_HASH_TAG, peerSetFamilies, peerSetTail, ruleHash } from '../names';
import { type MarkOptions, type PolicyLookup, markMask, passBitOf } from '../tiers';
import {
  LOG_COPY_BYTES,
  LOG_QUEUE_THRESHOLD,
  type LogPoint,
  type VerdictLogOptions,
  formatPrefix,
  hashlimitName,
} from '../verdict-log';
import {
  CHAIN_ACCEPTED,
  CHAIN_ALLOW,
  CHAIN_DENY,
  CHAIN_EGRESS,
  CHAIN_FORWARD,
  CHAIN_INGRESS,
  CHAIN_LOG_LIMIT,
  CHAIN_PASS,
  clusterPolicyChainName,
  type Direction,
  HOOKS,
  isolationSetName,
  logPointChainName,
  knownSetName,
  localSetName,
  peerSetName,
  podChainName,
  policyChainName,
} from './names';

export type SetType = 'hash:ip' | 'hash:net' | 'hash:ip,port';

/** xt_comment allows 256 bytes; keep the human part well inside. */
const MAX_COMMENT_TEXT = 200;

export interface RenderOptions extends MarkOptions {
  /** Verdict logs (../verdict-log.ts): log points, the rate limit, audit mode; undefined = off. */
  readonly verdictLog?: VerdictLogOptions;
  /** Fail closed for new pods (PALISADE-LOCAL-f / PALISADE-KNOWN-f); default false: fail open. */
  readonly failClosed?: boolean;
}

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

/**
 * Fail closed for new pods (../evaluations.ts `failClosedDrops`): a forwarded packet from or to
 * an address in the node's pod ranges that no known pod holds is dropped, until the pod's rules
 * are in place; with verdict logs on, through the drop's log point chain. Traffic between the
 * pod and its node never reaches FORWARD (kubelet probes pass).
 */
export function failClosedRules(family: IPFamily, opts: RenderOptions): Rule[] {
  const local = localSetName(family);
  const known = knownSetName(family);
  return failClosedDrops(opts.verdictLog).map((d) => {
    const dir = d.end === 'source' ? 'src' : 'dst';
    return makeRule(
      {
        matches: [`-m set --match-set ${local} ${dir}`, `-m set ! --match-set ${known} ${dir}`],
        target: d.log ? `-g ${logPointChainName(d.log.point.id)}` : '-j DROP',
      },
      d.human,
    );
  });
}

function entryRules(family: IPFamily, hook: string, opts: RenderOptions): Rule[] {
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
  if (opts.failClosed) rules.push(...failClosedRules(family, opts));
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
    ...entryRules(family, 'forward', opts),
    makeRule(
      {
        matches: [`-m set --match-set ${isolationSetName('ingress', family)} dst`],
        target: `-j ${CHAIN_INGRESS}`,
      },
      'palisade: forward ingress of isolated local pods',
    ),
  ];
  const fixed = (name: string, rules: Rule[]): Chain => ({
    name,
    table: family,
    family,
    kind: 'fixed',
    rules,
  });
  const chains = [
    fixed(CHAIN_FORWARD, forward),
    fixed(CHAIN_ALLOW, [
      makeRule({ target: `-j MARK --set-xmark ${bit}/${bit}` }, 'palisade: a policy rule allows'),
    ]),
    fixed(CHAIN_PASS, [
      makeRule({ target: `-j MARK --set-xmark ${pass}/${pass}` }, 'palisade: a cluster policy rule passes'),
    ]),
    fixed(CHAIN_ACCEPTED, [
      makeRule({ target: `-j MARK --set-xmark 0x0/${both}` }, 'palisade: allowed, clear the marks'),
    ]),
  ];
  const log = opts.verdictLog;
  if (!log) return chains;
  chains.push(
    fixed(CHAIN_DENY, [
      makeRule(
        { target: `-j MARK --set-xmark ${both}/${both}` },
        'palisade: a cluster policy rule denies (audit evaluation)',
      ),
    ]),
    fixed(CHAIN_LOG_LIMIT, [
      // Rule 1's packet counter: packets that reached a log point ("seen"); the pass bit is scratch.
      makeRule({ target: `-j MARK --set-xmark 0x0/${pass}` }, 'palisade: verdict log, a log point reached'),
      // Rule 2's: packets within the node's rate ("logged").
      makeRule(
        {
          matches: [
            `-m hashlimit --hashlimit-upto ${log.ratePerSecond}/sec --hashlimit-burst ${log.burst} --hashlimit-name ${hashlimitName(log)}`,
          ],
          target: `-j MARK --set-xmark ${pass}/${pass}`,
        },
        'palisade: verdict log, within the rate limit',
      ),
    ]),
  );
  if (opts.failClosed) {
    for (const d of failClosedDrops(log)) {
      const point = d.log!.point;
      chains.push(
        fixed(logPointChainName(point.id), logChainRules(point, false, { target: '-j DROP' }, d.human, opts)),
      );
    }
  }
  for (const direction of ['ingress', 'egress'] as const) {
    const point = pendingLogPoint(direction);
    chains.push(
      fixed(
        logPointChainName(point.id),
        logChainRules(
          point,
          false,
          { target: '-j DROP' },
          `palisade: isolated for ${direction}, no pod chain`,
          opts,
        ),
      ),
    );
  }
  return chains;
}

/** Last rule of a dispatch chain: an isolated address whose pod chain is not there yet is dropped. */
export function dispatchDefaultRule(direction: Direction, opts?: RenderOptions): Rule {
  const target = opts?.verdictLog ? `-g ${logPointChainName(pendingLogPoint(direction).id)}` : '-j DROP';
  return makeRule({ target }, `palisade: isolated for ${direction}, no pod chain`);
}

// ---------------------------------------------------------------------------------------------
// Verdict logs

/** `-j NFLOG …` for a log point: its prefix, the group, the bytes copied. All generated or validated. */
function nflogTarget(point: LogPoint, log: VerdictLogOptions): string {
  return `-j NFLOG --nflog-prefix ${formatPrefix(point)} --nflog-group ${log.group} --nflog-size ${LOG_COPY_BYTES} --nflog-threshold ${LOG_QUEUE_THRESHOLD}`;
}

const NEW_ONLY = '-m conntrack --ctstate NEW';

/**
 * The two rules that log a packet, rate-limited: through PALISADE-LOG-LIMIT (which sets the pass
 * bit when the node's bucket lets it through), then NFLOG on that bit. `guard`: the allow bit must
 * be set too (a conditional decision); `newOnly`: first packets only.
 */
function logRules(
  action: LogAction,
  guard: boolean,
  human: string,
  origin: { policy?: string; clusterPolicy?: string; pod?: string },
  opts: RenderOptions,
): Rule[] {
  const log = opts.verdictLog!;
  const bit = opts.markBit;
  const pass = passBitOf(bit);
  const newOnly = action.newOnly ? [NEW_ONLY] : [];
  const logged = guard ? (bit | pass) >>> 0 : pass;
  return [
    makeRule(
      {
        matches: [...(guard ? [`-m mark --mark ${hex(bit)}/${hex(bit)}`] : []), ...newOnly],
        target: `-j ${CHAIN_LOG_LIMIT}`,
      },
      `${human} (rate limit)`,
      origin,
    ),
    makeRule(
      {
        matches: [`-m mark --mark ${hex(logged)}/${hex(logged)}`, ...newOnly],
        target: nflogTarget(action.point, log),
      },
      `${human} (log)`,
      origin,
    ),
  ];
}

/** A log point's own chain: log, then the rule's end (`target`). */
function logChainRules(
  point: LogPoint,
  newOnly: boolean,
  end: { target: string },
  human: string,
  opts: RenderOptions,
  origin: { clusterPolicy?: string } = {},
): Rule[] {
  return [
    ...logRules({ point, newOnly }, false, human, origin, opts),
    makeRule({ target: end.target }, human, origin),
  ];
}
/**
 * A dispatch chain: one rule per isolated local address, ordered by rule hash (an order both a
 * full render and incremental inserts can keep without knowing each other), then the default.
 */
export function renderDispatchChain(
  family: IPFamily,
  direction: Direction,
  podRules: Iterable<Rule>,
  opts?: RenderOptions,
): Chain {
  const rules = [...podRules].sort(compareRuleHash);
  rules.push(dispatchDefaultRule(direction, opts));
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
  /** The policy chains the pod's chains jump to (../evaluations.ts callTargetKey). */
  readonly uses: readonly string[];
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
    uses: [],
  };
  const ips = pod.ips.filter((ip) => familyOf(ip) === family).map(canonicalIP);
  if (ips.length === 0) return out;
  const log = opts.verdictLog;
  const uses = new CallTargets();
  for (const direction of ['ingress', 'egress'] as const) {
    const evaluations = podEvaluations(pod, direction, lookup, log);
    if (evaluations.length === 0) continue;
    for (const evaluation of evaluations) {
      const steps = podSteps(pod, direction, lookup, evaluation, log);
      uses.add(steps);
      out.chains.push({
        name: podChainName(pod.key, pod.name, direction, evaluation),
        table: family,
        family,
        kind: 'pod',
        direction,
        owner: pod.key,
        rules: stepRules(pod, direction, ips, steps, opts),
      });
    }
    const chainName = podChainName(pod.key, pod.name, direction);
    for (const ip of ips) {
      out.dispatch[direction].push(
        makeRule(
          { head: [`${direction === 'ingress' ? '-d' : '-s'} ${hostPrefix(ip)}`], target: `-g ${chainName}` },
          `pod ${pod.key}`,
          { pod: pod.key },
        ),
      );
      out.isolated[direction].push(ip);
    }
  }
  return { ...out, uses: uses.list() };
}

/** The rules of one evaluation of a pod chain (../evaluations.ts). */
function stepRules(
  pod: PodRules,
  direction: Direction,
  ips: readonly string[],
  steps: readonly Step[],
  opts: RenderOptions,
): Rule[] {
  const bit = opts.markBit;
  const pass = passBitOf(bit);
  const both = markMask(opts);
  const markIs = (v: number): string => `-m mark --mark ${hex(v)}/${hex(v)}`;
  const outcomeTarget = (o: Outcome): string => {
    switch (o.kind) {
      case 'accepted':
        return `-g ${CHAIN_ACCEPTED}`;
      case 'drop':
        return '-j DROP';
      case 'return':
        return '-j RETURN';
      case 'evaluation':
        return `-g ${podChainName(pod.key, pod.name, direction, o.evaluation)}`;
    }
  };
  const rules: Rule[] = [];
  for (const st of steps) {
    switch (st.kind) {
      case 'self':
        for (const ip of ips) {
          rules.push(
            makeRule(
              { head: [`${direction === 'ingress' ? '-s' : '-d'} ${hostPrefix(ip)}`], target: '-j RETURN' },
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
              target: `-j ${podChainName(pod.key, pod.name, direction, st.evaluation)}`,
            },
            st.human,
            st.origin,
          ),
        );
        break;
      case 'clearMarks':
        rules.push(makeRule({ target: `-j MARK --set-xmark 0x0/${hex(both)}` }, st.human, st.origin));
        break;
      case 'clearPass':
        rules.push(makeRule({ target: `-j MARK --set-xmark 0x0/${hex(pass)}` }, st.human, st.origin));
        break;
      case 'call': {
        const t = st.target;
        const chain =
          t.kind === 'policy'
            ? policyChainName(t.key, nameOfKey(t.key), direction)
            : clusterPolicyChainName(t.key, direction, t.variant);
        rules.push(
          makeRule(
            { matches: st.unlessPass ? [`-m mark --mark 0x0/${hex(pass)}`] : [], target: `-j ${chain}` },
            st.human,
            st.origin,
          ),
        );
        break;
      }
      case 'decide': {
        const target = outcomeTarget(st.outcome);
        if (!st.log) {
          const m =
            st.when === undefined
              ? []
              : [markIs(st.when === 'allow' ? bit : st.when === 'pass' ? pass : both)];
          rules.push(makeRule({ matches: m, target }, st.human, st.origin));
          break;
        }
        // Logged decisions use the pass bit as scratch (../evaluations.ts promises: never on
        // `deny`, and on `pass` only where the allow bit is clear, so the allow bit can stand in).
        if (st.when === 'deny') throw new Error(`a logged decision on both bits: ${st.human}`);
        if (st.when === 'pass') {
          rules.push(
            makeRule(
              { matches: [markIs(pass)], target: `-j MARK --set-xmark ${hex(bit)}/${hex(bit)}` },
              `${st.human} (as allowed)`,
              st.origin,
            ),
          );
        }
        const guard = st.when !== undefined;
        rules.push(...logRules(st.log, guard, st.human, st.origin, opts));
        rules.push(makeRule({ matches: guard ? [markIs(bit)] : [], target }, st.human, st.origin));
        break;
      }
    }
  }
  return rules;
}

/** A NetworkPolicy's name (the readable tail of its chain's name) from its "namespace/name" key. */
function nameOfKey(key: string): string {
  return key.slice(key.indexOf('/') + 1);
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

const TIER_RULE_TARGET: Record<'allow' | 'pass' | 'deny' | 'drop', string> = {
  allow: `-g ${CHAIN_ALLOW}`,
  pass: `-g ${CHAIN_PASS}`,
  deny: `-g ${CHAIN_DENY}`,
  drop: '-j DROP',
};

function tierRuleLines(
  cp: CompiledClusterPolicy,
  direction: Direction,
  rule: CompiledTierRule,
  peerSets: ReadonlyMap<PeerSetKey, PeerSet>,
  family: IPFamily,
  target: string,
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
        makeRule({ head: port.head, matches: [...peer, ...port.matches], target }, human, {
          clusterPolicy: cp.key,
        }),
      );
    }
  }
  return out;
}

/**
 * The chains of one variant (../evaluations.ts) of a ClusterNetworkPolicy in one family: one per
 * direction it has rules for, and one per log point its rules carry.
 */
export function renderClusterPolicy(
  cp: CompiledClusterPolicy,
  peerSets: ReadonlyMap<PeerSetKey, PeerSet>,
  family: IPFamily,
  variant: ClusterChainVariant = 'enforced',
  opts: RenderOptions = { markBit: 0 },
): Chain[] {
  const chains: Chain[] = [];
  const origin = { clusterPolicy: cp.key };
  for (const direction of ['ingress', 'egress'] as const) {
    const rules = direction === 'ingress' ? cp.ingress : cp.egress;
    if (rules === null) continue;
    const out: Rule[] = [];
    for (const r of rules) {
      const end = clusterRuleEnd(cp, direction, r, variant, opts.verdictLog);
      let target = TIER_RULE_TARGET[end.action];
      if (end.log) {
        const name = logPointChainName(end.log.point.id);
        chains.push({
          name,
          table: family,
          family,
          kind: 'clusterPolicy',
          direction,
          owner: cp.key,
          rules: logChainRules(
            end.log.point,
            end.log.newOnly,
            { target },
            `cnp ${cp.key} ${direction} rule ${r.index} ${r.action}`,
            opts,
            origin,
          ),
        });
        target = `-g ${name}`;
      }
      for (const line of tierRuleLines(cp, direction, r, peerSets, family, target)) out.push(line);
    }
    chains.push({
      name: clusterPolicyChainName(cp.key, direction, variant),
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

/** The (empty) sets of fail closed for new pods in a family: the pod ranges, the programmed addresses. */
export function renderNewPodSets(family: IPFamily): KernelSet[] {
  return [
    { name: localSetName(family), family, type: 'hash:net', role: 'local', members: new Set<string>() },
    { name: knownSetName(family), family, type: 'hash:ip', role: 'known', members: new Set<string>() },
  ];
}

/** ipset elements of the node's pod ranges in one family (hash:net cannot hold a /0: two halves). */
export function rangeElements(cidrs: readonly string[], family: IPFamily): string[] {
  const out = new Set<string>();
  for (const c of cidrs) {
    const net = parseCIDR(c);
    if (net.family === family) for (const e of netEntries(net)) out.add(e);
  }
  return [...out];
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
    dispatchChain: (family, direction, rules) => renderDispatchChain(family, direction, rules, opts),
    pod(pod, family, lookup): SharedPodRender {
      const r = renderPod(pod, family, lookup, opts);
      return {
        chains: r.chains,
        dispatch: r.dispatch,
        isolated: { ingress: isolation(r.isolated.ingress), egress: isolation(r.isolated.egress) },
        uses: r.uses,
      };
    },
    policy: renderPolicy,
    clusterPolicy: (cp, peerSets, family, variant) =>
      renderClusterPolicy(cp, peerSets, family, variant, opts),
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
