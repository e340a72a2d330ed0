/**
 * PodRulesReport: everything `palisade rules NS/POD` says about one pod, built (pure) from the
 * agent's /v1/rules answer and its desired and kernel dataplane views.
 *
 * What it models: per direction, the ClusterNetworkPolicies of the Admin tier that hold the
 * pod (in evaluation order: priority, then name), the NetworkPolicies that select it, and the
 * ClusterNetworkPolicies of the Baseline tier; per rule, its peers (each peer set's selector and
 * the pods and CIDRs it resolves to now), its ports (named ports resolved), and the kernel rules
 * that implement it; beneath, the pod's kernel objects of each address family it has
 * (hook-side rules, pod chains, policy chains, ipsets) as the kernel holds them, each compared
 * with the desired state.
 */
import {
  podIsPolicyTarget,
  type ClusterPolicyInfo,
  type CompiledClusterPolicy,
  type CompiledPolicy,
  type CompiledRule,
  type CompiledTierRule,
  type PeerSetDef,
  type PolicyInfo,
  type PortMatch,
} from '../../../compiler';
import type { ChainView, DataplaneView, IPFamily, IpSetView } from '../../../dataplane/api';
import { clusterRuleText, ruleText, selectorText } from '../format/explain-text';
import type { PeerSetDoc, RulesDoc } from './documents';
import { selectsText } from './inventory';
import {
  chainState,
  isPolicyChain,
  policyRuleOf,
  ruleParts,
  setState,
  setsMatchedBy,
  ViewIndex,
  type ObjectState,
} from './kernel-objects';

export type Direction = 'ingress' | 'egress';

export interface ResolvedAddress {
  readonly address: string;
  /** The pod that has this address, if any ("ns/name"), and its node. */
  readonly pod?: string;
  readonly node?: string;
}

export interface PeerReport {
  /** The compiler's peer set key. */
  readonly set: string;
  readonly kind: PeerSetDef['kind'];
  /** In words: "pods matching app=foo in namespace default", "addresses in 10.0.0.0/8 except ...". */
  readonly selects: string;
  /** The ipsets holding it, per family. */
  readonly ipsets: ReadonlyArray<{ readonly family: IPFamily; readonly name: string }>;
  /** pods sets: every member with its pod; cidr sets: the block and its exceptions. */
  readonly members: readonly ResolvedAddress[];
  readonly cidr?: { readonly cidr: string; readonly except: readonly string[] };
}

export interface PortReport {
  readonly protocol: string;
  /** "80/TCP", "8080-8090/TCP", "any TCP port", "named port http/TCP". */
  readonly text: string;
  readonly port?: number;
  readonly endPort?: number;
  readonly name?: string;
  /** Named ports: where the name resolves now (ingress: on this pod; egress: on every pod). */
  readonly resolved?: ReadonlyArray<{
    readonly address: string;
    readonly port: number;
    readonly pod?: string;
  }>;
}

export interface KernelRuleReport {
  readonly family: IPFamily;
  readonly chain: string;
  /** 1-based position in the kernel's chain; null when the kernel does not hold the rule. */
  readonly rule: number | null;
  readonly spec: string;
  readonly note: string;
  readonly state: 'in kernel' | 'missing';
}

export interface RuleReport {
  readonly index: number;
  /** The rule as the policy says it: "from pods matching app=web in namespace y, on 80/TCP". */
  readonly text: string;
  readonly peers: 'any' | readonly PeerReport[];
  readonly ports: 'any' | readonly PortReport[];
  readonly kernel: readonly KernelRuleReport[];
}

export interface PolicyReport {
  readonly key: string;
  /** The policy's podSelector in kubectl syntax ("" = every pod of its namespace). */
  readonly podSelector: string;
  readonly rules: readonly RuleReport[];
  readonly chains: ReadonlyArray<{
    readonly family: IPFamily;
    readonly name: string;
    readonly state: ObjectState;
  }>;
}

export interface TierRuleReport {
  readonly index: number;
  /** The rule's name ('' when it has none). */
  readonly name: string;
  readonly action: 'Accept' | 'Deny' | 'Pass';
  /** "Deny from every pod in namespaces matching team=x, on 80/TCP". */
  readonly text: string;
  /** 'any': every remote address (a Deny or Pass rule whose peers Palisade cannot match: fail closed). */
  readonly peers: 'any' | readonly PeerReport[];
  readonly ports: 'any' | readonly PortReport[];
  /** Peer kinds Palisade does not enforce (domainNames), when the rule has any. */
  readonly unsupported?: readonly string[];
  readonly kernel: readonly KernelRuleReport[];
}

/** A ClusterNetworkPolicy holding the pod for a direction. */
export interface TierPolicyReport {
  readonly name: string;
  readonly tier: 'Admin' | 'Baseline';
  readonly priority: number;
  /** Its subject in words: "pods in namespaces matching team=x". */
  readonly subject: string;
  readonly rules: readonly TierRuleReport[];
  readonly chains: ReadonlyArray<{
    readonly family: IPFamily;
    readonly name: string;
    readonly state: ObjectState;
  }>;
}

export interface DirectionReport {
  /** NetworkPolicies isolate the pod for this direction. */
  readonly isolated: boolean;
  readonly policies: readonly PolicyReport[];
  /** ClusterNetworkPolicies of the Admin tier, then of the Baseline tier, in evaluation order. */
  readonly admin: readonly TierPolicyReport[];
  readonly baseline: readonly TierPolicyReport[];
}

export interface KernelChainReport {
  readonly family: IPFamily;
  readonly name: string;
  readonly kind: ChainView['kind'];
  readonly direction?: Direction;
  readonly owner?: string;
  readonly state: ObjectState;
  /** The kernel's rules (the desired ones, marked missing, when the kernel lacks the chain). */
  readonly rules: ReadonlyArray<{ readonly rule: number; readonly spec: string; readonly note: string }>;
}

export interface KernelSetReport {
  readonly family: IPFamily;
  readonly name: string;
  readonly type: IpSetView['type'];
  readonly role: IpSetView['role'];
  readonly direction?: Direction;
  readonly peerSet?: string;
  readonly state: ObjectState;
  /** Members as the kernel holds them (desired ones when the kernel lacks the set). */
  readonly members: readonly string[];
}

export interface PodRulesReport {
  /** The node of the agent that answered. */
  readonly node: string;
  readonly pod: {
    readonly key: string;
    readonly node: string;
    readonly ips: readonly string[];
    readonly labels: Readonly<Record<string, string>>;
    readonly namedPorts: ReadonlyArray<{
      readonly name: string;
      readonly port: number;
      readonly protocol: string;
    }>;
    readonly hostNetwork: boolean;
    readonly phase: string;
  };
  /** True when this agent enforces the pod's policies; otherwise `reason` says why not. */
  readonly subject: boolean;
  readonly reason?: string;
  /** Set when the pod is a live pod of another node: the node whose agent enforces it. */
  readonly enforcedOn?: string;
  readonly ingress: DirectionReport;
  readonly egress: DirectionReport;
  readonly kernel: {
    readonly families: readonly IPFamily[];
    /** Rules in shared chains that send the pod's packets to its chains (dispatch). */
    readonly dispatch: readonly KernelRuleReport[];
    readonly chains: readonly KernelChainReport[];
    readonly ipsets: readonly KernelSetReport[];
  };
}

const familyOfIP = (ip: string): IPFamily => (ip.includes(':') ? 6 : 4);

/** ipsets (desired) holding a peer set, per family. */
function ipsetsOf(desired: DataplaneView, key: string): Array<{ family: IPFamily; name: string }> {
  return desired.ipsets
    .filter((s) => s.peerSet?.key === key)
    .map((s) => ({ family: s.family, name: s.name }));
}

function resolve(doc: RulesDoc, address: string): ResolvedAddress {
  const o = doc.owners[address];
  return o ? { address, pod: o.pod, node: o.node } : { address };
}

function peerReport(
  doc: RulesDoc,
  desired: DataplaneView,
  set: PeerSetDoc | undefined,
  key: string,
): PeerReport {
  if (!set) return { set: key, kind: 'pods', selects: '(peer set not found)', ipsets: [], members: [] };
  const base = {
    set: key,
    kind: set.def.kind,
    selects: selectsText(set.def),
    ipsets: ipsetsOf(desired, key),
  };
  if (set.def.kind === 'cidr') {
    return { ...base, members: [], cidr: { cidr: set.def.cidr, except: set.def.except } };
  }
  return { ...base, members: set.members.map((m) => resolve(doc, m)) };
}

function portReport(
  doc: RulesDoc,
  m: PortMatch,
  direction: Direction,
  podIPs: readonly string[],
): PortReport {
  if (m.kind === 'port') {
    const text =
      m.port === undefined
        ? `any ${m.protocol} port`
        : m.endPort !== undefined
          ? `${m.port}-${m.endPort}/${m.protocol}`
          : `${m.port}/${m.protocol}`;
    return {
      protocol: m.protocol,
      text,
      ...(m.port !== undefined ? { port: m.port } : {}),
      ...(m.endPort !== undefined ? { endPort: m.endPort } : {}),
    };
  }
  const members = doc.peerSets[m.set]?.members ?? [];
  const resolved = members
    .map((e) => /^(.*),[a-z]+:(\d+)$/.exec(e))
    .filter((x): x is RegExpExecArray => x !== null)
    .map((x) => ({
      address: x[1],
      port: Number(x[2]),
      ...(doc.owners[x[1]] ? { pod: doc.owners[x[1]].pod } : {}),
    }))
    // Ingress named ports resolve on the destination, which is this pod.
    .filter((r) => direction === 'egress' || podIPs.includes(r.address));
  return { protocol: m.protocol, text: `named port ${m.name}/${m.protocol}`, name: m.name, resolved };
}

function kernelRulesOf(
  policyKey: string,
  direction: Direction,
  index: number,
  families: readonly IPFamily[],
  desired: ViewIndex,
  actual: ViewIndex,
): KernelRuleReport[] {
  const out: KernelRuleReport[] = [];
  for (const chain of desired.policyChains(policyKey, direction)) {
    if (!families.includes(chain.family)) continue;
    for (const r of chain.rules) {
      const ref = policyRuleOf(r);
      if (!ref || ref.index !== index || ref.direction !== direction) continue;
      const position = actual.position(chain.family, chain.name, r.hash) ?? null;
      const parts = ruleParts(r.text);
      out.push({
        family: chain.family,
        chain: chain.name,
        rule: position,
        spec: parts.spec,
        note: parts.note,
        state: position === null ? 'missing' : 'in kernel',
      });
    }
  }
  return out;
}

function ruleReport(
  doc: RulesDoc,
  info: PolicyInfo | null,
  policyKey: string,
  rule: CompiledRule,
  direction: Direction,
  families: readonly IPFamily[],
  views: { desired: DataplaneView; d: ViewIndex; a: ViewIndex },
): RuleReport {
  return {
    index: rule.index,
    text: info ? ruleText(info, direction, rule.index) : '(policy spec not found)',
    peers:
      rule.peers === 'any'
        ? 'any'
        : rule.peers.map((k) => peerReport(doc, views.desired, doc.peerSets[k], k)),
    ports: rule.ports === 'any' ? 'any' : rule.ports.map((m) => portReport(doc, m, direction, doc.pod.ips)),
    kernel: kernelRulesOf(policyKey, direction, rule.index, families, views.d, views.a),
  };
}

function subjectText(c: ClusterPolicyInfo): string {
  const ns = (s: Parameters<typeof selectorText>[0]) => {
    const t = selectorText(s);
    return t === '' ? 'in every namespace' : `in namespaces matching ${t}`;
  };
  if (c.subject.pods) {
    const t = selectorText(c.subject.pods.podSelector);
    return `${t === '' ? 'every pod' : `pods matching ${t}`} ${ns(c.subject.pods.namespaceSelector)}`;
  }
  if (c.subject.namespaces) return `every pod ${ns(c.subject.namespaces)}`;
  return 'nothing';
}

function tierRuleReport(
  doc: RulesDoc,
  info: ClusterPolicyInfo | null,
  key: string,
  rule: CompiledTierRule,
  direction: Direction,
  families: readonly IPFamily[],
  views: { desired: DataplaneView; d: ViewIndex; a: ViewIndex },
): TierRuleReport {
  return {
    index: rule.index,
    name: rule.name,
    action: rule.action,
    text: info ? clusterRuleText(info, direction, rule.index) : '(policy spec not found)',
    peers:
      rule.peers === 'any'
        ? 'any'
        : rule.peers.map((k) => peerReport(doc, views.desired, doc.peerSets[k], k)),
    ports: rule.ports === 'any' ? 'any' : rule.ports.map((m) => portReport(doc, m, direction, doc.pod.ips)),
    ...(rule.unsupported ? { unsupported: rule.unsupported } : {}),
    kernel: kernelRulesOf(key, direction, rule.index, families, views.d, views.a),
  };
}

function tierReports(
  doc: RulesDoc,
  keys: readonly string[],
  direction: Direction,
  families: readonly IPFamily[],
  views: { desired: DataplaneView; d: ViewIndex; a: ViewIndex },
): TierPolicyReport[] {
  return keys.map((key): TierPolicyReport => {
    const entry = (doc.clusterPolicies ?? []).find((c) => (c.compiled?.key ?? c.info?.name) === key);
    const compiled: CompiledClusterPolicy | null = entry?.compiled ?? null;
    const info = entry?.info ?? null;
    const rules = (direction === 'ingress' ? compiled?.ingress : compiled?.egress) ?? [];
    return {
      name: key,
      tier:
        (compiled?.tier ?? (info?.tier === 'Baseline' ? 'baseline' : 'admin')) === 'admin'
          ? 'Admin'
          : 'Baseline',
      priority: compiled?.priority ?? info?.priority ?? 0,
      subject: info ? subjectText(info) : '',
      rules: rules.map((r) => tierRuleReport(doc, info, key, r, direction, families, views)),
      chains: views.d
        .policyChains(key, direction)
        .filter((c) => families.includes(c.family))
        .map((c) => ({
          family: c.family,
          name: c.name,
          state: chainState(c, views.a.chain(c.family, c.name)),
        })),
    };
  });
}

function directionReport(
  doc: RulesDoc,
  direction: Direction,
  families: readonly IPFamily[],
  views: { desired: DataplaneView; d: ViewIndex; a: ViewIndex },
): DirectionReport {
  const r = doc.rules;
  const admin = r ? ((direction === 'ingress' ? r.adminIngress : r.adminEgress) ?? []) : [];
  const baseline = r ? ((direction === 'ingress' ? r.baselineIngress : r.baselineEgress) ?? []) : [];
  const keys = doc.rules ? (direction === 'ingress' ? doc.rules.ingress : doc.rules.egress) : [];
  const policies = keys.map((key): PolicyReport => {
    const entry = doc.policies.find(
      (p) => (p.compiled?.key ?? (p.info ? `${p.info.namespace}/${p.info.name}` : '')) === key,
    );
    const compiled: CompiledPolicy | null = entry?.compiled ?? null;
    const info = entry?.info ?? null;
    const rules = (direction === 'ingress' ? compiled?.ingress : compiled?.egress) ?? [];
    return {
      key,
      podSelector: info ? selectorText(info.spec.podSelector) : '',
      rules: rules.map((r) => ruleReport(doc, info, key, r, direction, families, views)),
      chains: views.d
        .policyChains(key, direction)
        .filter((c) => families.includes(c.family))
        .map((c) => ({
          family: c.family,
          name: c.name,
          state: chainState(c, views.a.chain(c.family, c.name)),
        })),
    };
  });
  return {
    isolated: keys.length > 0,
    policies,
    admin: tierReports(doc, admin, direction, families, views),
    baseline: tierReports(doc, baseline, direction, families, views),
  };
}

function notSubjectReason(doc: RulesDoc, node: string): string | undefined {
  const p = doc.pod;
  const key = `${p.namespace}/${p.name}`;
  if (doc.rules) return undefined;
  if (p.hostNetwork) return `${key} uses the host network: NetworkPolicy never selects it`;
  if (p.ips.length === 0)
    return `${key} has no address yet (phase ${p.phase}): it takes no part in NetworkPolicy`;
  if (p.phase === 'Succeeded' || p.phase === 'Failed')
    return `${key} is ${p.phase}: it takes no part in NetworkPolicy`;
  if (p.nodeName !== node)
    return p.nodeName === ''
      ? `${key} is not scheduled on a node yet`
      : `${key} runs on node ${p.nodeName}; the agent on ${node} holds rules only for the pods of its own node`;
  return `the agent on ${node} holds no rules for ${key}`;
}

function kernelChainReport(desired: ChainView | undefined, actual: ChainView | undefined): KernelChainReport {
  const c = (actual ?? desired)!;
  const rules = c.rules.map((r, i) => ({ rule: i + 1, ...ruleParts(r.text) }));
  return {
    family: c.family,
    name: c.name,
    kind: c.kind,
    ...(c.direction ? { direction: c.direction } : {}),
    ...((desired?.owner ?? c.owner) ? { owner: desired?.owner ?? c.owner } : {}),
    state: chainState(desired, actual),
    rules,
  };
}

function kernelSetReport(desired: IpSetView | undefined, actual: IpSetView | undefined): KernelSetReport {
  const s = (actual ?? desired)!;
  return {
    family: s.family,
    name: s.name,
    type: s.type,
    role: s.role,
    ...(s.direction ? { direction: s.direction } : {}),
    ...((desired?.peerSet ?? s.peerSet) ? { peerSet: (desired?.peerSet ?? s.peerSet)!.key } : {}),
    state: setState(desired, actual),
    members: s.members,
  };
}

/** The pod's kernel objects in its families: dispatch rules, pod chains, policy chains, sets. */
function kernelReport(
  doc: RulesDoc,
  families: readonly IPFamily[],
  policyKeys: readonly string[],
  d: ViewIndex,
  a: ViewIndex,
): PodRulesReport['kernel'] {
  const key = `${doc.pod.namespace}/${doc.pod.name}`;
  const dispatch: KernelRuleReport[] = [];
  const chains: KernelChainReport[] = [];
  const setNames = new Set<string>();
  const wanted = d.view.chains.filter(
    (c) =>
      families.includes(c.family) &&
      ((c.kind === 'pod' && c.owner === key) || (isPolicyChain(c) && policyKeys.includes(c.owner ?? ''))),
  );
  for (const c of d.view.chains) {
    if (c.kind !== 'dispatch' || !families.includes(c.family)) continue;
    for (const r of c.rules) {
      if (r.pod !== key) continue;
      const position = a.position(c.family, c.name, r.hash) ?? null;
      dispatch.push({
        family: c.family,
        chain: c.name,
        rule: position,
        ...ruleParts(r.text),
        state: position === null ? 'missing' : 'in kernel',
      });
    }
  }
  for (const c of wanted) {
    chains.push(kernelChainReport(c, a.chain(c.family, c.name)));
    for (const r of c.rules) for (const { name } of setsMatchedBy(r.text)) setNames.add(name);
  }
  // Isolation sets that should hold (or hold) one of the pod's addresses.
  for (const s of [...d.view.ipsets, ...a.view.ipsets]) {
    if (s.role === 'isolation' && doc.pod.ips.some((ip) => s.members.includes(ip))) setNames.add(s.name);
  }
  const ipsets = [...setNames]
    .sort()
    .filter((n) => d.set(n) !== undefined || a.set(n) !== undefined)
    .map((n) => kernelSetReport(d.set(n), a.set(n)))
    .filter((s) => families.includes(s.family));
  return { families, dispatch, chains, ipsets };
}

export function podRulesReport(
  node: string,
  doc: RulesDoc,
  desired: DataplaneView,
  actual: DataplaneView,
): PodRulesReport {
  const p = doc.pod;
  const families = ([4, 6] as const).filter((f) => p.ips.some((ip) => familyOfIP(ip) === f));
  const views = { desired, d: new ViewIndex(desired), a: new ViewIndex(actual) };
  const reason = notSubjectReason(doc, node);
  const ingress = directionReport(doc, 'ingress', families, views);
  const egress = directionReport(doc, 'egress', families, views);
  const policyKeys = [
    ...[...ingress.policies, ...egress.policies].map((x) => x.key),
    ...[...ingress.admin, ...ingress.baseline, ...egress.admin, ...egress.baseline].map((x) => x.name),
  ];
  return {
    node,
    pod: {
      key: `${p.namespace}/${p.name}`,
      node: p.nodeName,
      ips: p.ips,
      labels: p.labels,
      namedPorts: p.namedPorts,
      hostNetwork: p.hostNetwork,
      phase: p.phase,
    },
    subject: reason === undefined,
    ...(reason !== undefined ? { reason } : {}),
    ...(reason !== undefined && podIsPolicyTarget(p) && p.nodeName !== '' && p.nodeName !== node
      ? { enforcedOn: p.nodeName }
      : {}),
    ingress,
    egress,
    kernel: doc.rules
      ? kernelReport(doc, families, policyKeys, views.d, views.a)
      : { families, dispatch: [], chains: [], ipsets: [] },
  };
}
