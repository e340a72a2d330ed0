/**
 * Projection of Kubernetes objects into the slim model (compiler/model.ts).
 *
 * Shared by the scenario loader and the agent's informers: both hand over plain Kubernetes
 * objects in their wire (JSON) shape and get back model objects holding only what decides
 * verdicts. Beware @kubernetes/client-node's typed V1NetworkPolicy: it renames the ingress
 * rule's `from` to `_from`. Projection accepts that spelling too, so a typed object can never
 * silently lose its peers (which would turn an ingress rule into allow-everyone).
 * Nothing of the input is kept by reference (labels are copied), so the caller's object can
 * be dropped at once and memory stays flat per pod.
 *
 * The functions trust their input to be valid (the API server validated it; the scenario
 * loader validates first) but never throw on a missing or malformed optional field.
 */
import type {
  ClusterPolicyAction,
  ClusterPolicyInfo,
  ClusterPolicyPeer,
  ClusterPolicyPort,
  ClusterPolicyProtocol,
  ClusterPolicyRule,
  ClusterPolicySubject,
  IPBlock,
  LabelSelector,
  LabelSelectorRequirement,
  NamedPort,
  NamespaceInfo,
  NetworkPolicyEgressRule,
  NetworkPolicyIngressRule,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  NamespacedPodSelector,
  NodeInfo,
  PodInfo,
  PolicyInfo,
  PolicyType,
  Protocol,
} from '../model';
import { ENFORCEMENT_ANNOTATION } from '../model';
import { FieldErrors } from '../validate/fields';
import { canonicalIP, formatCIDR, parseCIDR, parseIP } from '../validate/ip';
import { validateLabelSelector } from '../validate/meta';
import { NODE_IP_ADDRESS_TYPES } from '../validate/node';

/** The label the API server puts on every namespace (immutable, equal to the name). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

type Maybe<T> = T | null | undefined;

export interface K8sObjectMeta {
  name?: Maybe<string>;
  namespace?: Maybe<string>;
  labels?: Maybe<Record<string, string>>;
  annotations?: Maybe<Record<string, string>>;
}

/** Is the object in audit mode (annotated palisade.io/enforcement: audit)? */
export function isAudit(meta: Maybe<K8sObjectMeta>): boolean {
  return meta?.annotations?.[ENFORCEMENT_ANNOTATION] === 'audit';
}

export interface K8sNamespace {
  metadata?: Maybe<K8sObjectMeta>;
}

export interface K8sContainerPort {
  name?: Maybe<string>;
  containerPort?: Maybe<number>;
  protocol?: Maybe<string>;
}

export interface K8sPod {
  metadata?: Maybe<K8sObjectMeta>;
  spec?: Maybe<{
    nodeName?: Maybe<string>;
    hostNetwork?: Maybe<boolean>;
    containers?: Maybe<readonly { ports?: Maybe<readonly K8sContainerPort[]> }[]>;
  }>;
  status?: Maybe<{
    phase?: Maybe<string>;
    podIP?: Maybe<string>;
    podIPs?: Maybe<readonly { ip?: Maybe<string> }[]>;
  }>;
}

export interface K8sLabelSelector {
  matchLabels?: Maybe<Record<string, string>>;
  matchExpressions?: Maybe<
    readonly { key?: Maybe<string>; operator?: Maybe<string>; values?: Maybe<readonly string[]> }[]
  >;
}

export interface K8sNetworkPolicyPeer {
  podSelector?: Maybe<K8sLabelSelector>;
  namespaceSelector?: Maybe<K8sLabelSelector>;
  ipBlock?: Maybe<{ cidr?: Maybe<string>; except?: Maybe<readonly string[]> }>;
}

export interface K8sNetworkPolicyPort {
  protocol?: Maybe<string>;
  port?: Maybe<number | string>;
  endPort?: Maybe<number>;
}

export interface K8sNetworkPolicy {
  metadata?: Maybe<K8sObjectMeta>;
  spec?: Maybe<{
    podSelector?: Maybe<K8sLabelSelector>;
    policyTypes?: Maybe<readonly string[]>;
    ingress?: Maybe<
      readonly Maybe<{
        from?: Maybe<readonly K8sNetworkPolicyPeer[]>;
        _from?: Maybe<readonly K8sNetworkPolicyPeer[]>;
        ports?: Maybe<readonly K8sNetworkPolicyPort[]>;
      }>[]
    >;
    egress?: Maybe<
      readonly Maybe<{
        to?: Maybe<readonly K8sNetworkPolicyPeer[]>;
        ports?: Maybe<readonly K8sNetworkPolicyPort[]>;
      }>[]
    >;
  }>;
}

function copyLabels(l: Maybe<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(l ?? {})) if (typeof v === 'string') out[k] = v;
  return out;
}

function protocolOf(p: Maybe<string>): Protocol {
  return p === 'UDP' || p === 'SCTP' ? p : 'TCP';
}

export function projectNamespace(obj: K8sNamespace): NamespaceInfo {
  const name = obj.metadata?.name ?? '';
  return { name, labels: { ...copyLabels(obj.metadata?.labels), [NAMESPACE_NAME_LABEL]: name } };
}

/** Canonical addresses from status.podIPs, else status.podIP; invalid entries are dropped. */
function podAddresses(status: NonNullable<K8sPod['status']> | null | undefined): string[] {
  const listed = (status?.podIPs ?? [])
    .map((e) => e?.ip)
    .filter((ip): ip is string => typeof ip === 'string' && ip !== '');
  const raw = listed.length > 0 ? listed : status?.podIP ? [status.podIP] : [];
  const out: string[] = [];
  for (const ip of raw) {
    const c = canonicalIP(ip);
    if (c !== undefined && !out.includes(c)) out.push(c);
  }
  return out;
}

export function projectPod(obj: K8sPod): PodInfo {
  const namedPorts: NamedPort[] = [];
  for (const c of obj.spec?.containers ?? []) {
    for (const p of c?.ports ?? []) {
      if (p?.name && typeof p.containerPort === 'number') {
        namedPorts.push({ name: p.name, port: p.containerPort, protocol: protocolOf(p.protocol) });
      }
    }
  }
  return {
    namespace: obj.metadata?.namespace || 'default',
    name: obj.metadata?.name ?? '',
    labels: copyLabels(obj.metadata?.labels),
    nodeName: obj.spec?.nodeName ?? '',
    ips: podAddresses(obj.status),
    hostNetwork: obj.spec?.hostNetwork === true,
    phase: obj.status?.phase || 'Running',
    namedPorts,
  };
}

function projectSelector(s: Maybe<K8sLabelSelector>): LabelSelector {
  const out: { matchLabels?: Record<string, string>; matchExpressions?: LabelSelectorRequirement[] } = {};
  if (s?.matchLabels && Object.keys(s.matchLabels).length > 0) out.matchLabels = copyLabels(s.matchLabels);
  const exprs = (s?.matchExpressions ?? []).map((e) => {
    const r: { key: string; operator: LabelSelectorRequirement['operator']; values?: string[] } = {
      key: e.key ?? '',
      operator: (e.operator ?? 'Exists') as LabelSelectorRequirement['operator'],
    };
    if (e.values && e.values.length > 0) r.values = [...e.values];
    return r;
  });
  if (exprs.length > 0) out.matchExpressions = exprs;
  return out;
}

function canonicalCIDR(s: string): string {
  const c = parseCIDR(s);
  return c ? formatCIDR(c) : s;
}

function projectPeer(p: K8sNetworkPolicyPeer): NetworkPolicyPeer {
  const out: { podSelector?: LabelSelector; namespaceSelector?: LabelSelector; ipBlock?: IPBlock } = {};
  if (p.podSelector) out.podSelector = projectSelector(p.podSelector);
  if (p.namespaceSelector) out.namespaceSelector = projectSelector(p.namespaceSelector);
  if (p.ipBlock) {
    const b: { cidr: string; except?: string[] } = { cidr: canonicalCIDR(p.ipBlock.cidr ?? '') };
    if (p.ipBlock.except && p.ipBlock.except.length > 0) b.except = p.ipBlock.except.map(canonicalCIDR);
    out.ipBlock = b;
  }
  return out;
}

function projectPort(p: K8sNetworkPolicyPort): NetworkPolicyPort {
  const out: { protocol?: Protocol; port?: number | string; endPort?: number } = {};
  if (p.protocol) out.protocol = protocolOf(p.protocol);
  if (p.port !== undefined && p.port !== null) out.port = p.port;
  if (typeof p.endPort === 'number') out.endPort = p.endPort;
  return out;
}

function projectRuleParts(
  peers: Maybe<readonly K8sNetworkPolicyPeer[]>,
  ports: Maybe<readonly K8sNetworkPolicyPort[]>,
): { peers?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] } {
  const out: { peers?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] } = {};
  if (peers) out.peers = peers.map(projectPeer);
  if (ports) out.ports = ports.map(projectPort);
  return out;
}

export function projectPolicy(obj: K8sNetworkPolicy): PolicyInfo {
  const s = obj.spec;
  const spec: {
    podSelector: LabelSelector;
    policyTypes?: PolicyType[];
    ingress?: NetworkPolicyIngressRule[];
    egress?: NetworkPolicyEgressRule[];
  } = { podSelector: projectSelector(s?.podSelector) };
  if (s?.policyTypes)
    spec.policyTypes = s.policyTypes.filter((t): t is PolicyType => t === 'Ingress' || t === 'Egress');
  if (s?.ingress) {
    spec.ingress = s.ingress.map((r) => {
      const { peers, ports } = projectRuleParts(r?.from ?? r?._from, r?.ports);
      return { ...(peers ? { from: peers } : {}), ...(ports ? { ports } : {}) };
    });
  }
  if (s?.egress) {
    spec.egress = s.egress.map((r) => {
      const { peers, ports } = projectRuleParts(r?.to, r?.ports);
      return { ...(peers ? { to: peers } : {}), ...(ports ? { ports } : {}) };
    });
  }
  return {
    namespace: obj.metadata?.namespace || 'default',
    name: obj.metadata?.name ?? '',
    spec,
    ...(isAudit(obj.metadata) ? { audit: true } : {}),
  };
}

// ---- ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) and Node ---------------------

export interface K8sNamespacedPods {
  namespaceSelector?: Maybe<K8sLabelSelector>;
  podSelector?: Maybe<K8sLabelSelector>;
}

export interface K8sClusterPolicyPeer {
  namespaces?: Maybe<K8sLabelSelector>;
  pods?: Maybe<K8sNamespacedPods>;
  networks?: Maybe<readonly string[]>;
  nodes?: Maybe<K8sLabelSelector>;
  domainNames?: Maybe<readonly string[]>;
}

export interface K8sClusterPolicyPort {
  number?: Maybe<number>;
  range?: Maybe<{ start?: Maybe<number>; end?: Maybe<number> }>;
}

export interface K8sClusterPolicyProtocol {
  tcp?: Maybe<{ destinationPort?: Maybe<K8sClusterPolicyPort> }>;
  udp?: Maybe<{ destinationPort?: Maybe<K8sClusterPolicyPort> }>;
  sctp?: Maybe<{ destinationPort?: Maybe<K8sClusterPolicyPort> }>;
  destinationNamedPort?: Maybe<string>;
}

export interface K8sClusterPolicyRule {
  name?: Maybe<string>;
  action?: Maybe<string>;
  from?: Maybe<readonly K8sClusterPolicyPeer[]>;
  to?: Maybe<readonly K8sClusterPolicyPeer[]>;
  protocols?: Maybe<readonly K8sClusterPolicyProtocol[]>;
}

/** The wire shape (a CRD: no client-node typed model, so no renamed fields). */
export interface K8sClusterNetworkPolicy {
  metadata?: Maybe<K8sObjectMeta>;
  spec?: Maybe<{
    tier?: Maybe<string>;
    priority?: Maybe<number>;
    subject?: Maybe<{ namespaces?: Maybe<K8sLabelSelector>; pods?: Maybe<K8sNamespacedPods> }>;
    ingress?: Maybe<readonly Maybe<K8sClusterPolicyRule>[]>;
    egress?: Maybe<readonly Maybe<K8sClusterPolicyRule>[]>;
  }>;
}

/** The wire shape; client-node's V1Node uses the same field names. */
export interface K8sNode {
  metadata?: Maybe<K8sObjectMeta>;
  spec?: Maybe<{ podCIDR?: Maybe<string>; podCIDRs?: Maybe<readonly string[]> }>;
  status?: Maybe<{ addresses?: Maybe<readonly Maybe<{ type?: Maybe<string>; address?: Maybe<string> }>[]> }>;
}

/**
 * A selector nothing matches: what an invalid label selector (an operator the labels package
 * does not know, In without values, a malformed key) becomes. The ClusterNetworkPolicy CRD does
 * not reject such selectors; client-go fails to build them, and implementations then match
 * nothing. The key names the reason wherever the selector is printed.
 */
export const INVALID_SELECTOR: LabelSelector = {
  matchExpressions: [{ key: 'palisade.dev/invalid-label-selector', operator: 'In', values: [] }],
};

function projectCheckedSelector(s: Maybe<K8sLabelSelector>): LabelSelector {
  if (!s) return {};
  const problems = new FieldErrors();
  validateLabelSelector(s, [], problems);
  return problems.errors.length > 0 ? INVALID_SELECTOR : projectSelector(s);
}

function projectNamespacedPods(p: K8sNamespacedPods): NamespacedPodSelector {
  return {
    namespaceSelector: projectCheckedSelector(p.namespaceSelector),
    podSelector: projectCheckedSelector(p.podSelector),
  };
}

function projectClusterPeer(p: K8sClusterPolicyPeer): ClusterPolicyPeer {
  if (p.namespaces) return { namespaces: projectCheckedSelector(p.namespaces) };
  if (p.pods) return { pods: projectNamespacedPods(p.pods) };
  if (p.networks) return { networks: p.networks.map(canonicalCIDR) };
  if (p.nodes) return { nodes: projectCheckedSelector(p.nodes) };
  if (p.domainNames) return { domainNames: [...p.domainNames] };
  return {};
}

function projectClusterPort(p: Maybe<K8sClusterPolicyPort>): ClusterPolicyPort | undefined {
  if (typeof p?.number === 'number') return { number: p.number };
  if (p?.range && typeof p.range.start === 'number' && typeof p.range.end === 'number')
    return { range: { start: p.range.start, end: p.range.end } };
  return undefined;
}

function projectClusterProtocol(p: K8sClusterPolicyProtocol): ClusterPolicyProtocol {
  if (typeof p.destinationNamedPort === 'string') return { destinationNamedPort: p.destinationNamedPort };
  for (const proto of ['tcp', 'udp', 'sctp'] as const) {
    const attrs = p[proto];
    if (!attrs) continue;
    const port = projectClusterPort(attrs.destinationPort);
    return { [proto]: port ? { destinationPort: port } : {} };
  }
  return {};
}

function projectClusterRule(
  r: K8sClusterPolicyRule,
  peers: Maybe<readonly K8sClusterPolicyPeer[]>,
): ClusterPolicyRule {
  const action: ClusterPolicyAction = r.action === 'Accept' || r.action === 'Pass' ? r.action : 'Deny';
  return {
    name: r.name ?? '',
    action,
    peers: (peers ?? []).map(projectClusterPeer),
    ...(r.protocols && r.protocols.length > 0 ? { protocols: r.protocols.map(projectClusterProtocol) } : {}),
  };
}

export function projectClusterPolicy(obj: K8sClusterNetworkPolicy): ClusterPolicyInfo {
  const s = obj.spec;
  // Exactly one field is set once validated; none set selects nothing (subjectMatches).
  const subject: ClusterPolicySubject = s?.subject?.pods
    ? { pods: projectNamespacedPods(s.subject.pods) }
    : s?.subject?.namespaces
      ? { namespaces: projectCheckedSelector(s.subject.namespaces) }
      : {};
  const rules = (xs: Maybe<readonly Maybe<K8sClusterPolicyRule>[]>, dir: 'from' | 'to') =>
    (xs ?? []).filter((r): r is K8sClusterPolicyRule => !!r).map((r) => projectClusterRule(r, r[dir]));
  return {
    name: obj.metadata?.name ?? '',
    tier: s?.tier === 'Baseline' ? 'Baseline' : 'Admin',
    priority: typeof s?.priority === 'number' ? s.priority : 0,
    subject,
    ingress: rules(s?.ingress, 'from'),
    egress: rules(s?.egress, 'to'),
    ...(isAudit(obj.metadata) ? { audit: true } : {}),
  };
}

/** Labels, the InternalIP and ExternalIP addresses (canonical, deduplicated) and the pod CIDRs. */
export function projectNode(obj: K8sNode): NodeInfo {
  const addresses: string[] = [];
  for (const a of obj.status?.addresses ?? []) {
    if (!a || !NODE_IP_ADDRESS_TYPES.includes(a.type ?? '')) continue;
    const ip = canonicalIP(a.address ?? '');
    if (ip !== undefined && !addresses.includes(ip)) addresses.push(ip);
  }
  const listed = obj.spec?.podCIDRs ?? [];
  const raw = listed.length > 0 ? listed : obj.spec?.podCIDR ? [obj.spec.podCIDR] : [];
  const podCIDRs: string[] = [];
  for (const c of raw) {
    const parsed = parseCIDR(c);
    if (parsed && !podCIDRs.includes(formatCIDR(parsed))) podCIDRs.push(formatCIDR(parsed));
  }
  return { name: obj.metadata?.name ?? '', labels: copyLabels(obj.metadata?.labels), addresses, podCIDRs };
}

/** True when `ip` is a valid address (used by callers that accept user-typed endpoints). */
export function isIP(ip: string): boolean {
  return parseIP(ip) !== undefined;
}
