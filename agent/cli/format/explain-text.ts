/**
 * A verdict in words an operator understands: per direction, which stage decided it (a
 * ClusterNetworkPolicy rule of the Admin tier, the NetworkPolicies that isolate the pod, a rule
 * of the Baseline tier, or nobody, so the default allowed), with the Pass rules met on the way
 * and a same-priority tie the name order broke; for NetworkPolicies, which rule admitted the
 * connection, or for each rule of each isolating policy which part (peer or port) failed and why.
 *
 * Reused by the offline `palisade explain SCENARIO` and the live `palisade explain` against a
 * running agent: both hand over the Verdict and an ExplainLookup (the compiler, or the agent's
 * compiled view). Whether a rule matched is read from the compiled state (peer set members,
 * port matches); the reason a peer failed is then spelled out from the policy's own spec
 * (namespace, labels, CIDR), so the words name the same selectors the operator wrote.
 */
import {
  selectorMatches,
  type ClusterPolicyInfo,
  type ClusterPolicyPeer,
  type ClusterPolicyProtocol,
  type CompiledPolicy,
  type CompiledRule,
  type CompiledState,
  type DirectionVerdict,
  type Endpoint,
  type LabelSelector,
  type NamespaceInfo,
  type NetworkPolicyPeer,
  type NetworkPolicyPort,
  type ObjectKey,
  type PodInfo,
  type PolicyInfo,
  type PortMatch,
  type Probe,
  type TierName,
  type TierRuleRef,
  type Verdict,
} from '../../../compiler';
import { cidrContainsIP, parseCIDR, parseIP } from '../../../compiler/validate';

/** What the renderer reads besides the verdict: satisfied by IncrementalCompiler / CompiledView. */
export interface ExplainLookup {
  state(): CompiledState;
  pod(key: ObjectKey): PodInfo | undefined;
  podByIP?(ip: string): PodInfo | undefined;
  namespace(name: string): NamespaceInfo | undefined;
  policy(key: ObjectKey): PolicyInfo | undefined;
  /** ClusterNetworkPolicies by name (absent: an agent older than ClusterNetworkPolicy support). */
  clusterPolicy?(name: string): ClusterPolicyInfo | undefined;
}

/** Options of the live `explain`: which node's agent evaluated the verdict. */
export interface ExplainOptions {
  /**
   * The node of the agent that evaluated the verdict. An agent holds rules only for its own
   * node's pods: a direction whose subject runs elsewhere is then said to be decided there, and
   * an ALLOWED headline says it covers this node's part only.
   */
  readonly agentNode?: string;
}

/** A ClusterNetworkPolicy rule, as the JSON output names it. */
export interface TierRuleDecision {
  readonly tier: 'Admin' | 'Baseline';
  readonly policy: string;
  readonly priority: number;
  /** Index in the policy's ingress or egress list, and the rule's name ('' when it has none). */
  readonly rule: number;
  readonly ruleName: string;
  readonly action: string;
}

/** Who decided one direction, for `-o json`. */
export interface DirectionDecision {
  readonly direction: 'ingress' | 'egress';
  readonly allowed: boolean;
  /**
   * admin / baseline: a ClusterNetworkPolicy rule of that tier (`rule`); networkpolicy: the
   * NetworkPolicies isolating the pod; default: no tier decided, so the default allowed;
   * elsewhere: another node decides (live explain); none: no pod subject to policies.
   */
  readonly decidedBy: 'admin' | 'networkpolicy' | 'baseline' | 'default' | 'elsewhere' | 'none';
  readonly rule?: TierRuleDecision;
  /** Pass rules met on the way. */
  readonly passed: readonly TierRuleDecision[];
  /** Same-tier, same-priority policies that matched too; the name order put `rule` first. */
  readonly tiedWith: readonly TierRuleDecision[];
}

export interface Explanation {
  /** "ALLOWED: x/b -> y/a on 80/TCP" or "DENIED: ...". */
  readonly headline: string;
  /** One entry per direction (egress of the source, then ingress of the destination), each possibly multi-line. */
  readonly details: readonly string[];
  /** Per direction, who decided (absent for traffic to itself and pod <-> own node). */
  readonly decisions?: readonly DirectionDecision[];
  /**
   * When an audit-mode policy (palisade.io/enforcement: audit) selects either end: the outcome
   * if audited policies were enforced too, and who would decide it.
   */
  readonly audited?: { readonly allowed: boolean; readonly decisions: readonly DirectionDecision[] };
}

export function endpointName(e: Endpoint): string {
  return e.kind === 'pod' ? e.key : e.ip;
}

/** A label selector in kubectl's syntax: "app=web,tier in (a,b),!legacy"; "" selects everything. */
export function selectorText(s: LabelSelector | undefined): string {
  if (!s) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(s.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const r of s.matchExpressions ?? []) {
    const vals = (r.values ?? []).join(',');
    switch (r.operator) {
      case 'In':
        parts.push(`${r.key} in (${vals})`);
        break;
      case 'NotIn':
        parts.push(`${r.key} notin (${vals})`);
        break;
      case 'Exists':
        parts.push(r.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${r.key}`);
        break;
    }
  }
  return parts.join(',');
}

function labelsText(l: Readonly<Record<string, string>>): string {
  const e = Object.entries(l);
  return e.length === 0 ? 'no labels' : `labels ${e.map(([k, v]) => `${k}=${v}`).join(',')}`;
}

export function peerText(p: NetworkPolicyPeer, policyNamespace: string): string {
  if (p.ipBlock) {
    const ex = p.ipBlock.except ?? [];
    return `addresses in ${p.ipBlock.cidr}${ex.length > 0 ? ` except ${ex.join(', ')}` : ''}`;
  }
  const pods =
    p.podSelector && selectorText(p.podSelector) !== ''
      ? `pods matching ${selectorText(p.podSelector)}`
      : 'every pod';
  if (!p.namespaceSelector) return `${pods} in namespace ${policyNamespace}`;
  const ns = selectorText(p.namespaceSelector);
  return ns === '' ? `${pods} in every namespace` : `${pods} in namespaces matching ${ns}`;
}

export function portText(p: NetworkPolicyPort): string {
  const proto = p.protocol ?? 'TCP';
  if (p.port === undefined) return `any ${proto} port`;
  if (typeof p.port === 'string') return `named port ${p.port}/${proto}`;
  return p.endPort !== undefined ? `${p.port}-${p.endPort}/${proto}` : `${p.port}/${proto}`;
}

/** "from pods matching app=web in namespace y, on 80/TCP". */
export function ruleText(policy: PolicyInfo, direction: 'ingress' | 'egress', index: number): string {
  const rule = direction === 'ingress' ? policy.spec.ingress?.[index] : policy.spec.egress?.[index];
  if (!rule) return '(rule not found)';
  const peers =
    direction === 'ingress'
      ? (rule as { from?: readonly NetworkPolicyPeer[] }).from
      : (rule as { to?: readonly NetworkPolicyPeer[] }).to;
  const word = direction === 'ingress' ? 'from' : 'to';
  const who =
    !peers || peers.length === 0
      ? `${word} anywhere`
      : `${word} ${peers.map((p) => peerText(p, policy.namespace)).join(' or ')}`;
  const ports =
    !rule.ports || rule.ports.length === 0 ? 'on any port' : `on ${rule.ports.map(portText).join(', ')}`;
  return `${who}, ${ports}`;
}

const TIER_WORD: Record<TierName, 'Admin' | 'Baseline'> = { admin: 'Admin', baseline: 'Baseline' };

/** A ClusterNetworkPolicy peer in words: "pods matching app=db in every namespace", "addresses in 10.0.0.0/8". */
export function clusterPeerText(p: ClusterPolicyPeer): string {
  const inNamespaces = (s: LabelSelector) => {
    const t = selectorText(s);
    return t === '' ? 'in every namespace' : `in namespaces matching ${t}`;
  };
  if (p.namespaces) return `every pod ${inNamespaces(p.namespaces)}`;
  if (p.pods) {
    const t = selectorText(p.pods.podSelector);
    return `${t === '' ? 'every pod' : `pods matching ${t}`} ${inNamespaces(p.pods.namespaceSelector)}`;
  }
  if (p.networks) return `addresses in ${p.networks.join(', ')}`;
  if (p.nodes) {
    const t = selectorText(p.nodes);
    return t === '' ? 'every node' : `nodes matching ${t}`;
  }
  if (p.domainNames) return `domain names ${p.domainNames.join(', ')} (not enforced by Palisade)`;
  return 'no peer';
}

export function clusterProtocolText(p: ClusterPolicyProtocol): string {
  if (p.destinationNamedPort !== undefined) return `named port ${p.destinationNamedPort} (any protocol)`;
  for (const [proto, attrs] of [
    ['TCP', p.tcp],
    ['UDP', p.udp],
    ['SCTP', p.sctp],
  ] as const) {
    if (!attrs) continue;
    const d = attrs.destinationPort;
    if (d?.number !== undefined) return `${d.number}/${proto}`;
    if (d?.range !== undefined) return `${d.range.start}-${d.range.end}/${proto}`;
    return `any ${proto} port`;
  }
  return 'no protocol';
}

/** "Deny from every pod in namespaces matching team=x, on 80/TCP". */
export function clusterRuleText(
  c: ClusterPolicyInfo,
  direction: 'ingress' | 'egress',
  index: number,
): string {
  const rule = c[direction][index];
  if (!rule) return '(rule not found)';
  const word = direction === 'ingress' ? 'from' : 'to';
  const ports =
    !rule.protocols || rule.protocols.length === 0
      ? 'on any port'
      : `on ${rule.protocols.map(clusterProtocolText).join(', ')}`;
  return `${rule.action} ${word} ${rule.peers.map(clusterPeerText).join(' or ')}, ${ports}`;
}

/**
 * `ClusterNetworkPolicy guard (priority 5) egress[0] "block-db" (Deny to ..., on 80/TCP)`, with
 * the tier named ("Admin tier, priority 5") unless the sentence already says it.
 */
export function tierRuleText(ref: TierRuleRef, lookup: ExplainLookup, withTier = true): string {
  const c = lookup.clusterPolicy?.(ref.policy);
  const name = ref.ruleName ? ` "${ref.ruleName}"` : '';
  const what = c ? clusterRuleText(c, ref.direction, ref.rule) : ref.action;
  const where = withTier
    ? `${TIER_WORD[ref.tier]} tier, priority ${ref.priority}`
    : `priority ${ref.priority}`;
  return `ClusterNetworkPolicy ${ref.policy} (${where}) ${ref.direction}[${ref.rule}]${name} (${what})`;
}

function tierDecision(ref: TierRuleRef): TierRuleDecision {
  return {
    tier: TIER_WORD[ref.tier],
    policy: ref.policy,
    priority: ref.priority,
    rule: ref.rule,
    ruleName: ref.ruleName,
    action: ref.action,
  };
}

/** The sentence about a same-priority tie, when the deciding (or passing) rule had one. */
function tieText(d: DirectionVerdict, winner: TierRuleRef): string | undefined {
  const tied = d.tiedWith.filter((t) => t.tier === winner.tier && t.priority === winner.priority);
  if (tied.length === 0) return undefined;
  const others = tied.map(
    (t) => `${t.policy} ${t.direction}[${t.rule}]${t.ruleName ? ` "${t.ruleName}"` : ''} (${t.action})`,
  );
  return `  Tie: ${winner.policy} and ${others.join(', ')} have the same priority ${winner.priority} and match too; the API leaves their order undefined, Palisade orders by name, so ${winner.policy} is evaluated first.`;
}

interface Resolved {
  readonly name: string;
  readonly pod?: PodInfo;
  readonly ips: readonly string[];
}

function resolve(e: Endpoint, lookup: ExplainLookup): Resolved {
  if (e.kind === 'pod') {
    const pod = lookup.pod(e.key);
    return { name: e.key, pod, ips: pod?.ips ?? [] };
  }
  return { name: e.ip, pod: lookup.podByIP?.(e.ip), ips: [e.ip] };
}

function inCidr(ip: string, cidr: string): boolean {
  const c = parseCIDR(cidr);
  const a = parseIP(ip);
  return !!c && !!a && cidrContainsIP(c, a);
}

function peerSetAdmits(state: CompiledState, key: string, ips: readonly string[]): boolean {
  const set = state.peerSets.get(key);
  if (!set) return false;
  if (set.def.kind === 'cidr') {
    const { cidr, except } = set.def;
    return ips.some((ip) => inCidr(ip, cidr) && !except.some((e) => inCidr(ip, e)));
  }
  return ips.some((ip) => set.members.has(ip));
}

function portMatchAdmits(
  state: CompiledState,
  pm: PortMatch,
  probe: Probe,
  dstIPs: readonly string[],
): boolean {
  if (pm.protocol !== probe.protocol) return false;
  if (pm.kind === 'port') {
    if (pm.port === undefined) return true;
    return pm.endPort !== undefined
      ? probe.port >= pm.port && probe.port <= pm.endPort
      : probe.port === pm.port;
  }
  const set = state.peerSets.get(pm.set);
  return !!set && dstIPs.some((ip) => set.members.has(`${ip},${probe.protocol.toLowerCase()}:${probe.port}`));
}

/** Why one peer of a rule does not take in the remote end. */
function peerMismatch(
  p: NetworkPolicyPeer,
  policyNamespace: string,
  remote: Resolved,
  lookup: ExplainLookup,
): string {
  if (p.ipBlock) {
    const { cidr } = p.ipBlock;
    const addrs = remote.pod?.ips.length ? remote.pod.ips : remote.ips;
    if (addrs.length === 0) return `${remote.name} has no address`;
    const inside = addrs.filter((ip) => inCidr(ip, cidr));
    if (inside.length === 0) return `${addrs.join(', ')} ${addrs.length === 1 ? 'is' : 'are'} not in ${cidr}`;
    const excepted = (p.ipBlock.except ?? []).find((e) => inside.every((ip) => inCidr(ip, e)));
    return excepted
      ? `${inside.join(', ')} ${inside.length === 1 ? 'is' : 'are'} in the except ${excepted}`
      : `${remote.name} matches`;
  }
  const pod = remote.pod;
  if (!pod) return `${remote.name} is not a pod of the cluster`;
  const key = `${pod.namespace}/${pod.name}`;
  if (pod.hostNetwork) return `${key} uses the host network, which pod and namespace selectors never match`;
  if (p.namespaceSelector) {
    const ns = lookup.namespace(pod.namespace);
    if (!ns || !selectorMatches(p.namespaceSelector, ns.labels)) {
      return `namespace ${pod.namespace} (${labelsText(ns?.labels ?? {})}) does not match ${selectorText(p.namespaceSelector)}`;
    }
  } else if (pod.namespace !== policyNamespace) {
    return `${key} is in namespace ${pod.namespace}, not ${policyNamespace}`;
  }
  if (p.podSelector && !selectorMatches(p.podSelector, pod.labels)) {
    return `${key} (${labelsText(pod.labels)}) does not match ${selectorText(p.podSelector)}`;
  }
  return `${key} matches`;
}

function namedPortNote(p: NetworkPolicyPort, dst: Resolved): string | undefined {
  if (typeof p.port !== 'string') return undefined;
  const proto = p.protocol ?? 'TCP';
  const np = dst.pod?.namedPorts.find((n) => n.name === p.port && n.protocol === proto);
  return np
    ? `named port ${p.port} is ${np.port}/${proto} on ${dst.name}`
    : `${dst.name} declares no ${proto} port named ${p.port}`;
}

function ruleFailure(
  policy: PolicyInfo,
  compiled: CompiledPolicy | undefined,
  rule: CompiledRule,
  direction: 'ingress' | 'egress',
  remote: Resolved,
  dst: Resolved,
  probe: Probe,
  lookup: ExplainLookup,
): string {
  const state = lookup.state();
  const spec = direction === 'ingress' ? policy.spec.ingress?.[rule.index] : policy.spec.egress?.[rule.index];
  const peers =
    (direction === 'ingress'
      ? (spec as { from?: readonly NetworkPolicyPeer[] })?.from
      : (spec as { to?: readonly NetworkPolicyPeer[] })?.to) ?? [];
  const peersOk = rule.peers === 'any' || rule.peers.some((k) => peerSetAdmits(state, k, remote.ips));
  const portsOk = rule.ports === 'any' || rule.ports.some((pm) => portMatchAdmits(state, pm, probe, dst.ips));
  const why: string[] = [];
  if (!peersOk) {
    const reasons = peers.map((p) => peerMismatch(p, policy.namespace, remote, lookup));
    why.push(
      `peer does not match: ${reasons.length > 0 ? reasons.join('; ') : `${remote.name} is not admitted`}`,
    );
  }
  if (!portsOk) {
    const ports = spec?.ports ?? [];
    const notes = ports.map((p) => namedPortNote(p, dst)).filter((n): n is string => n !== undefined);
    why.push(
      `port does not match: ${probe.port}/${probe.protocol} is not ${ports.map(portText).join(' or ')}${notes.length ? ` (${notes.join('; ')})` : ''}`,
    );
  }
  if (why.length === 0) why.push(compiled ? 'matches peer and port' : 'no compiled rules');
  return `${policy.namespace}/${policy.name} ${direction}[${rule.index}] (${ruleText(policy, direction, rule.index)}): ${why.join('; ')}`;
}

/** The NetworkPolicy tier's decision: isolating policies, the rule that admitted or why none did. */
function networkPolicyText(
  d: DirectionVerdict,
  remote: Resolved,
  dst: Resolved,
  probe: Probe,
  lookup: ExplainLookup,
): string[] {
  const verb = d.direction;
  const isolated = `isolated by ${d.isolatingPolicies.join(', ')}`;
  if (d.allowed) {
    const by = d.allowedBy.map((r) => {
      const p = lookup.policy(r.policy);
      return p
        ? `${r.policy} ${r.direction}[${r.rule}] (${ruleText(p, r.direction, r.rule)})`
        : `${r.policy} ${r.direction}[${r.rule}]`;
    });
    return [`${isolated}; allowed by ${by.join(' and by ')}.`];
  }
  const lines = [`${isolated}; no rule allows ${remote.name} on ${probe.port}/${probe.protocol} → denied:`];
  const state = lookup.state();
  for (const key of d.isolatingPolicies) {
    const policy = lookup.policy(key);
    const compiled = state.policies.get(key);
    const rules = compiled ? (d.direction === 'ingress' ? compiled.ingress : compiled.egress) : null;
    if (!policy) {
      lines.push(`  ${key}: (policy not found)`);
    } else if (!rules || rules.length === 0) {
      lines.push(`  ${key}: no ${verb} rules (it only isolates)`);
    } else {
      for (const r of rules)
        lines.push(`  ${ruleFailure(policy, compiled, r, d.direction, remote, dst, probe, lookup)}`);
    }
  }
  return lines;
}

/** The ClusterNetworkPolicies of a tier that hold the subject for this direction, in evaluation order. */
function tierPolicies(d: DirectionVerdict, tier: TierName, lookup: ExplainLookup): readonly string[] {
  const rules = d.subject ? lookup.state().pods.get(d.subject) : undefined;
  if (!rules) return [];
  const lists = {
    admin: d.direction === 'ingress' ? rules.adminIngress : rules.adminEgress,
    baseline: d.direction === 'ingress' ? rules.baselineIngress : rules.baselineEgress,
  };
  return lists[tier] ?? [];
}

function directionText(
  d: DirectionVerdict,
  subject: Resolved,
  remote: Resolved,
  dst: Resolved,
  probe: Probe,
  lookup: ExplainLookup,
  opts: ExplainOptions,
): string {
  const head = d.direction === 'egress' ? `Egress from ${subject.name}` : `Ingress to ${subject.name}`;
  const verb = d.direction === 'egress' ? 'egress' : 'ingress';
  if (d.subject === null) {
    if (subject.pod?.hostNetwork)
      return `${head}: ${subject.name} uses the host network, which policies never select → allowed.`;
    return `${head}: not a pod of the cluster, no policy applies → allowed.`;
  }
  if (subject.pod?.hostNetwork)
    return `${head}: ${subject.name} uses the host network, which policies never select → allowed.`;
  if (!d.evaluated && opts.agentNode !== undefined) {
    const node = subject.pod?.nodeName || 'another node';
    return `${head}: decided on ${node}, where ${subject.name} runs, not here: the agent on ${opts.agentNode} holds rules only for its own node's pods.`;
  }
  if (!d.evaluated)
    return `${head}: decided on the node that runs ${subject.name} (not evaluated here) → counts as allowed.`;
  const admin = tierPolicies(d, 'admin', lookup);
  const baseline = tierPolicies(d, 'baseline', lookup);
  const adminPass = d.passedBy.find((p) => p.tier === 'admin');
  const baselinePass = d.passedBy.find((p) => p.tier === 'baseline');
  // Without ClusterNetworkPolicies for this pod and direction: the NetworkPolicy words alone.
  if (admin.length === 0 && baseline.length === 0) {
    if (d.isolatingPolicies.length === 0)
      return `${head}: not isolated (no policy selects it for ${verb}) → allowed.`;
    return [`${head}: ${networkPolicyText(d, remote, dst, probe, lookup).join('\n')}`].join('\n');
  }
  const steps: string[] = [];
  const extra: string[] = [];
  const tie = (winner: TierRuleRef) => {
    const t = tieText(d, winner);
    if (t) extra.push(t);
  };
  // Admin tier.
  if (d.decidedBy === 'admin' && d.clusterRule) {
    const r = d.clusterRule;
    steps.push(
      `Admin tier: ${tierRuleText(r, lookup, false)} → ${r.action === 'Accept' ? 'allowed' : 'denied'}.`,
    );
    tie(r);
    return [`${head}: ${steps.join(' ')}`, ...extra].join('\n');
  }
  if (adminPass) {
    steps.push(`Admin tier: ${tierRuleText(adminPass, lookup, false)} passes it on to the next tiers;`);
    tie(adminPass);
  } else if (admin.length > 0) {
    steps.push(`Admin tier: no rule of ${admin.join(', ')} matches;`);
  }
  // NetworkPolicy tier.
  if (d.decidedBy === 'networkpolicy') {
    const np = networkPolicyText(d, remote, dst, probe, lookup);
    steps.push(`NetworkPolicy tier: ${np[0]}`);
    return [`${head}: ${steps.join(' ')}`, ...np.slice(1), ...extra].join('\n');
  }
  steps.push(`NetworkPolicy tier: no policy isolates it for ${verb};`);
  // Baseline tier.
  if (d.decidedBy === 'baseline' && d.clusterRule) {
    const r = d.clusterRule;
    steps.push(
      `Baseline tier: ${tierRuleText(r, lookup, false)} → ${r.action === 'Accept' ? 'allowed' : 'denied'}.`,
    );
    tie(r);
    return [`${head}: ${steps.join(' ')}`, ...extra].join('\n');
  }
  if (baselinePass) {
    steps.push(`Baseline tier: ${tierRuleText(baselinePass, lookup, false)} passes;`);
    tie(baselinePass);
  } else if (baseline.length > 0) {
    steps.push(`Baseline tier: no rule of ${baseline.join(', ')} matches;`);
  }
  steps.push('no tier decided, so the default allows it → allowed.');
  return [`${head}: ${steps.join(' ')}`, ...extra].join('\n');
}

function decision(d: DirectionVerdict, subject: Resolved): DirectionDecision {
  const base = {
    direction: d.direction,
    allowed: d.allowed,
    passed: d.passedBy.map(tierDecision),
    tiedWith: d.tiedWith.map(tierDecision),
  };
  if (d.subject === null || subject.pod?.hostNetwork) return { ...base, decidedBy: 'none' };
  if (!d.evaluated) return { ...base, decidedBy: 'elsewhere' };
  return {
    ...base,
    decidedBy: d.decidedBy,
    ...(d.clusterRule ? { rule: tierDecision(d.clusterRule) } : {}),
  };
}

/** Directions of a verdict decided on another node than the one that evaluated it. */
export function decidedElsewhere(v: Verdict): DirectionVerdict[] {
  if (v.self || v.node) return [];
  return [v.egress, v.ingress].filter((d) => !d.evaluated);
}

export function explainVerdict(
  v: Verdict,
  from: Endpoint,
  to: Endpoint,
  probe: Probe,
  lookup: ExplainLookup,
  opts: ExplainOptions = {},
): Explanation {
  const src = resolve(from, lookup);
  const dst = resolve(to, lookup);
  const on = `${probe.port}/${probe.protocol}`;
  let headline = `${v.allowed ? 'ALLOWED' : 'DENIED'}: ${src.name} -> ${dst.name} on ${on}`;
  const elsewhere = opts.agentNode !== undefined && v.allowed ? decidedElsewhere(v) : [];
  if (elsewhere.length > 0) {
    const parts = elsewhere.map((d) => {
      const end = d.direction === 'egress' ? src : dst;
      return `the ${d.direction} of ${end.name} is decided on ${end.pod?.nodeName || 'another node'}`;
    });
    headline += ` (by ${opts.agentNode}; ${parts.join(', ')})`;
  }
  if (v.self) return { headline, details: [`Traffic from a pod to itself is always allowed.`] };
  if (v.node) {
    const host = src.pod?.hostNetwork ? src : dst;
    const other = host === src ? dst : src;
    return {
      headline,
      details: [
        `Traffic between a pod and the node it runs on is always allowed (${host.name} uses the host network of ${host.pod?.nodeName}, where ${other.name} runs).`,
      ],
    };
  }
  const details = [
    directionText(v.egress, src, dst, dst, probe, lookup, opts),
    directionText(v.ingress, dst, src, dst, probe, lookup, opts),
  ];
  const decisions = [decision(v.egress, src), decision(v.ingress, dst)];
  if (!v.audited) return { headline, details, decisions };
  const a = v.audited;
  const same = a.allowed === v.allowed;
  details.push(
    `Audit mode: audited policies (palisade.io/enforcement: audit) select an end of this connection; enforced, they ${
      same
        ? `would not change the outcome (${a.allowed ? 'allowed' : 'denied'}).`
        : `would ${a.allowed ? 'ALLOW' : 'DENY'} it:`
    }`,
  );
  if (!same) {
    for (const [d, subject, remote] of [
      [a.egress, src, dst],
      [a.ingress, dst, src],
    ] as const) {
      const enforced = d.direction === 'egress' ? v.egress : v.ingress;
      if (d.allowed !== enforced.allowed)
        details.push(
          directionText(d, subject, remote, dst, probe, lookup, opts)
            .split('\n')
            .map((l) => `  ${l}`)
            .join('\n'),
        );
    }
  }
  return {
    headline,
    details,
    decisions,
    audited: { allowed: a.allowed, decisions: [decision(a.egress, src), decision(a.ingress, dst)] },
  };
}

export function renderExplanation(e: Explanation): string {
  return `${e.headline}\n${e.details.map((d) => `${d}\n`).join('')}`;
}
