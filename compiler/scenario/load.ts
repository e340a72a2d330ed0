/**
 * The scenario format: a multi-document YAML file of v1 Namespace, Pod and Node,
 * networking.k8s.io/v1 NetworkPolicy and policy.networking.k8s.io/v1alpha2
 * ClusterNetworkPolicy objects, exactly as kubectl would accept them (ClusterNetworkPolicy as
 * the experimental-channel CRD validates it; a v1 List of such objects, as `kubectl get -o
 * yaml` prints, is accepted too).
 *
 * Loading is pure (text and file name in, model objects or errors out; the caller reads the
 * file) and happens in three steps:
 *   1. parse every YAML document, keeping line positions for error messages;
 *   2. validate each object as the API server would (compiler/validate), and reject duplicates;
 *   3. project into the model (project.ts), add the namespaces that pods and policies use but
 *      the file does not declare (with the kubernetes.io/metadata.name label the API server
 *      sets on every namespace), and assign addresses to pods without one (addresses.ts).
 * Every error found is reported, each naming the file, the 1-based document number, the
 * object, the field path and the line. Warnings (what the API server accepts but Palisade
 * reads in a way worth saying, e.g. an invalid label selector in a ClusterNetworkPolicy) come
 * with a loaded scenario, in the same form.
 */
import { isMap, isScalar, LineCounter, parseAllDocuments, type Document } from 'yaml';
import {
  PROTOCOLS,
  type ClusterPolicyInfo,
  type ClusterSnapshot,
  type NamespaceInfo,
  type PodInfo,
  type PolicyInfo,
  type Protocol,
} from '../model';
import { formatPath, validateObject, type FieldPath, type SupportedKind } from '../validate';
import { assignAddresses, isDualStack, nodeInfoOf, type ScenarioNode } from './addresses';
import {
  NAMESPACE_NAME_LABEL,
  projectClusterPolicy,
  projectNamespace,
  projectNode,
  projectPod,
  projectPolicy,
  type K8sClusterNetworkPolicy,
  type K8sNamespace,
  type K8sNetworkPolicy,
  type K8sNode,
  type K8sPod,
} from './project';

export interface Scenario {
  readonly file: string;
  /** Declared namespaces in file order, then implicit ones in order of first use. */
  readonly namespaces: readonly NamespaceInfo[];
  /** In file order, with nodeName and addresses filled in (see addresses.ts). */
  readonly pods: readonly PodInfo[];
  readonly policies: readonly PolicyInfo[];
  /** ClusterNetworkPolicies in file order. */
  readonly clusterPolicies: readonly ClusterPolicyInfo[];
  /**
   * Every node: the declared v1 Nodes, then the nodes pods name (or the default node), each
   * with its addresses and pod CIDRs (see addresses.ts).
   */
  readonly nodes: readonly ScenarioNode[];
  readonly dualStack: boolean;
  /** Every (port, protocol) some container declares (named or not), sorted by port then TCP, UDP, SCTP. */
  readonly containerPorts: readonly { readonly port: number; readonly protocol: Protocol }[];
}

export type LoadResult =
  | { readonly ok: true; readonly scenario: Scenario; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly errors: readonly string[] };

export function scenarioSnapshot(s: Scenario): ClusterSnapshot {
  return {
    namespaces: s.namespaces,
    pods: s.pods,
    policies: s.policies,
    clusterPolicies: s.clusterPolicies,
    nodes: s.nodes.map(nodeInfoOf),
  };
}

interface Located {
  readonly docNumber: number;
  /** Path of the object inside its document ([] or ['items', j] in a List). */
  readonly base: FieldPath;
  readonly label: string;
}

function lineOf(doc: Document, lc: LineCounter, path: FieldPath): number | undefined {
  // A field's line is the line of its key: look the key up in the parent mapping.
  const last = path[path.length - 1];
  if (typeof last === 'string') {
    const parent = doc.getIn(path.slice(0, -1), true);
    if (isMap(parent)) {
      const pair = parent.items.find((it) => isScalar(it.key) && it.key.value === last);
      const range = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
      if (range) return lc.linePos(range[0]).line;
    }
  }
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

function objectLabel(
  kind: string | undefined,
  namespace: string | undefined,
  name: string | undefined,
): string {
  const n = name ?? '<no name>';
  if (kind === 'Namespace' || kind === 'ClusterNetworkPolicy' || kind === 'Node') return `${kind} ${n}`;
  if (kind === 'Pod' || kind === 'NetworkPolicy') return `${kind} ${namespace ?? 'default'}/${n}`;
  return kind ?? 'object without kind';
}

export function loadScenario(text: string, file: string): LoadResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: true });
  const docList = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) {
    return { ok: false, errors: [`${file}: not a YAML stream`] };
  }

  const nsObjs: { obj: K8sNamespace; annotations: Record<string, string> }[] = [];
  const podObjs: { obj: K8sPod; where: Located; doc: Document }[] = [];
  const policyObjs: K8sNetworkPolicy[] = [];
  const clusterPolicyObjs: K8sClusterNetworkPolicy[] = [];
  const nodeObjs: { obj: K8sNode; where: Located; doc: Document }[] = [];
  const seen = new Map<string, number>();

  docList.forEach((doc, i) => {
    const docNumber = i + 1;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const line = e.linePos?.[0]?.line;
        const message = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        errors.push(
          `${file}: document ${docNumber}: invalid YAML${line ? ` at line ${line}` : ''}: ${message}`,
        );
      }
      return;
    }
    const raw: unknown = doc.toJS({ maxAliasCount: 1000 });
    if (raw === null || raw === undefined) return; // an empty document, as kubectl skips it
    const entries: { raw: unknown; base: FieldPath; prefix: string }[] = [];
    const asObj = raw as Record<string, unknown>;
    if (
      typeof raw === 'object' &&
      !Array.isArray(raw) &&
      asObj.kind === 'List' &&
      asObj.apiVersion === 'v1'
    ) {
      const items = Array.isArray(asObj.items) ? asObj.items : [];
      if (!Array.isArray(asObj.items))
        errors.push(`${file}: document ${docNumber} (List): items: must be a list`);
      items.forEach((item, j) => entries.push({ raw: item, base: ['items', j], prefix: `items[${j}] ` }));
    } else {
      entries.push({ raw, base: [], prefix: '' });
    }
    for (const { raw: item, base, prefix } of entries) {
      const v = validateObject(item);
      const kindText =
        typeof (item as { kind?: unknown })?.kind === 'string' ? (item as { kind: string }).kind : undefined;
      const label = `${prefix}${objectLabel(v.kind ?? kindText, v.namespace, v.name)}`;
      const where: Located = { docNumber, base, label };
      const report = (into: string[], e: { path: FieldPath; message: string }) => {
        const full = [...base, ...e.path];
        const line = lineOf(doc, lc, full);
        const at = e.path.length > 0 ? `${formatPath(e.path)}: ` : '';
        into.push(
          `${file}: document ${docNumber} (${label}): ${at}${e.message}${line ? ` (line ${line})` : ''}`,
        );
      };
      for (const e of v.errors) report(errors, e);
      if (v.errors.length === 0) for (const w of v.warnings) report(warnings, w);
      if (v.errors.length > 0 || !v.kind || v.name === undefined) continue;
      const key = `${v.kind}/${v.namespace ?? ''}/${v.name}`;
      const first = seen.get(key);
      if (first !== undefined) {
        errors.push(
          `${file}: document ${docNumber} (${label}): duplicate ${objectLabel(v.kind, v.namespace, v.name)} (first defined in document ${first})`,
        );
        continue;
      }
      seen.set(key, docNumber);
      collect(v.kind, item, where, doc);
    }
  });

  function collect(kind: SupportedKind, item: unknown, where: Located, doc: Document): void {
    switch (kind) {
      case 'Namespace': {
        const ann = ((item as { metadata?: { annotations?: Record<string, string> } }).metadata
          ?.annotations ?? {}) as Record<string, string>;
        nsObjs.push({ obj: item as K8sNamespace, annotations: ann });
        break;
      }
      case 'Pod':
        podObjs.push({ obj: item as K8sPod, where, doc });
        break;
      case 'NetworkPolicy':
        policyObjs.push(item as K8sNetworkPolicy);
        break;
      case 'ClusterNetworkPolicy':
        clusterPolicyObjs.push(item as K8sClusterNetworkPolicy);
        break;
      case 'Node':
        nodeObjs.push({ obj: item as K8sNode, where, doc });
        break;
    }
  }

  const namespaces: NamespaceInfo[] = nsObjs.map((n) => projectNamespace(n.obj));
  const declaredNs = new Set(namespaces.map((n) => n.name));
  const declaredPods = podObjs.map((p) => projectPod(p.obj));
  const policies = policyObjs.map(projectPolicy);
  const clusterPolicies = clusterPolicyObjs.map(projectClusterPolicy);
  const declaredNodes = nodeObjs.map((n) => projectNode(n.obj));
  for (const o of [...declaredPods, ...policies]) {
    if (!declaredNs.has(o.namespace)) {
      declaredNs.add(o.namespace);
      namespaces.push({ name: o.namespace, labels: { [NAMESPACE_NAME_LABEL]: o.namespace } });
    }
  }

  // Two pods (other than hostNetwork ones, which share their node's address), or a pod and a
  // node, or two nodes, may not declare one address.
  const owner = new Map<string, string>();
  declaredNodes.forEach((n, i) => {
    const { where, doc } = nodeObjs[i];
    for (const ip of n.addresses) {
      const prev = owner.get(ip);
      if (prev !== undefined) {
        const line = lineOf(doc, lc, [...where.base, 'status', 'addresses']);
        errors.push(
          `${file}: document ${where.docNumber} (${where.label}): status.addresses: address ${ip} is already used by ${prev}${line ? ` (line ${line})` : ''}`,
        );
      } else owner.set(ip, `node ${n.name}`);
    }
  });
  declaredPods.forEach((p, i) => {
    if (p.hostNetwork) return;
    for (const ip of p.ips) {
      const prev = owner.get(ip);
      const { where, doc } = podObjs[i];
      if (prev !== undefined) {
        const line = lineOf(doc, lc, [...where.base, 'status']);
        errors.push(
          `${file}: document ${where.docNumber} (${where.label}): status.podIPs: address ${ip} is already used by ${prev}${line ? ` (line ${line})` : ''}`,
        );
      } else owner.set(ip, `pod ${p.namespace}/${p.name}`);
    }
  });

  const dualStack = isDualStack(
    declaredPods,
    nsObjs.map((n) => n.annotations),
  );
  const assigned = assignAddresses(declaredPods, dualStack, declaredNodes);
  for (const e of assigned.errors) errors.push(`${file}: ${e}`);
  if (errors.length > 0) return { ok: false, errors };
  const containerPorts = declaredContainerPorts(podObjs.map((p) => p.obj));
  return {
    ok: true,
    scenario: {
      file,
      namespaces,
      pods: assigned.pods,
      policies,
      clusterPolicies,
      nodes: assigned.nodes,
      dualStack,
      containerPorts,
    },
    warnings,
  };
}

function declaredContainerPorts(pods: readonly K8sPod[]): { port: number; protocol: Protocol }[] {
  const seen = new Map<string, { port: number; protocol: Protocol }>();
  for (const p of pods) {
    for (const c of p.spec?.containers ?? []) {
      for (const cp of c?.ports ?? []) {
        if (typeof cp?.containerPort !== 'number') continue;
        const protocol: Protocol = cp.protocol === 'UDP' || cp.protocol === 'SCTP' ? cp.protocol : 'TCP';
        seen.set(`${cp.containerPort}/${protocol}`, { port: cp.containerPort, protocol });
      }
    }
  }
  return [...seen.values()].sort(
    (a, b) => a.port - b.port || PROTOCOLS.indexOf(a.protocol) - PROTOCOLS.indexOf(b.protocol),
  );
}
