/**
 * The API writes that turn what a shared cluster holds into what the next case (or step)
 * needs. Pure: `planWrites(current, desired)` compares two lists of Kubernetes objects
 * (Namespaces, Nodes, Pods, NetworkPolicies, ClusterNetworkPolicies, as k8s-objects.ts makes
 * them) and returns the writes.
 *
 * - Namespaces, Nodes and pods are never created or deleted here (the sandbox wires a fixed
 *   set): changed labels become a JSON merge patch (a removed label is patched to null),
 *   changed container ports a merge patch of spec.containers (merge patch replaces lists
 *   whole). Any other difference (node, addresses, hostNetwork, a pod or node that comes or
 *   goes) is an error.
 * - Policies of both kinds: gone or changed ones are deleted, new or changed ones created
 *   ("recreate", as the conformance suite does between cases), or a changed one is replaced in
 *   place with PUT ("replace", an update event, as the update tests and upstream's mid-test
 *   patches need).
 *
 * Order: policy deletions, namespace, node and pod patches, then policy creations and
 * replacements. The agents are only checked after the last write, so the order matters only
 * for the resourceVersion each resource ends at (see api-writer.ts).
 */
import type { K8sObject } from '../sandbox';

export type ObjectKind = 'Namespace' | 'Node' | 'Pod' | 'NetworkPolicy' | 'ClusterNetworkPolicy';

/** The kinds planWrites creates, replaces and deletes; the others are fixed (labels aside). */
export const POLICY_KINDS: readonly ObjectKind[] = ['NetworkPolicy', 'ClusterNetworkPolicy'];

export interface ObjectRef {
  readonly kind: ObjectKind;
  readonly namespace?: string;
  readonly name: string;
}

export type ClusterWrite =
  | { readonly op: 'create'; readonly object: K8sObject }
  | { readonly op: 'replace'; readonly object: K8sObject }
  | { readonly op: 'delete'; readonly ref: ObjectRef }
  | { readonly op: 'patch'; readonly ref: ObjectRef; readonly mergePatch: Record<string, unknown> };

export type PolicyChange = 'recreate' | 'replace';

type Labels = Record<string, string>;

interface Meta {
  name: string;
  namespace?: string;
  labels?: Labels;
}

function meta(o: K8sObject): Meta {
  return o.metadata as unknown as Meta;
}

function refOf(o: K8sObject): ObjectRef {
  const m = meta(o);
  return {
    kind: o.kind as ObjectKind,
    name: m.name,
    ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
  };
}

export function refText(r: ObjectRef): string {
  return `${r.kind} ${r.namespace !== undefined ? `${r.namespace}/` : ''}${r.name}`;
}

/** JSON with object keys sorted: equal values give equal text. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function byKind(objects: readonly K8sObject[], kind: ObjectKind): Map<string, K8sObject> {
  return new Map(objects.filter((o) => o.kind === kind).map((o) => [refText(refOf(o)), o]));
}

/** The merge patch of labels from `from` to `to`, or undefined when equal. */
export function labelPatch(
  from: Labels | undefined,
  to: Labels | undefined,
): Record<string, string | null> | undefined {
  const a = from ?? {};
  const b = to ?? {};
  const patch: Record<string, string | null> = {};
  for (const k of Object.keys(a)) if (!(k in b)) patch[k] = null;
  for (const [k, v] of Object.entries(b)) if (a[k] !== v) patch[k] = v;
  return Object.keys(patch).length > 0 ? patch : undefined;
}

function podWiring(p: K8sObject): string {
  const spec = (p.spec ?? {}) as Record<string, unknown>;
  const status = (p.status ?? {}) as Record<string, unknown>;
  return canonicalJson({
    node: spec.nodeName,
    host: spec.hostNetwork,
    ips: status.podIPs,
    phase: status.phase,
  });
}

function nodeWiring(n: K8sObject): string {
  return canonicalJson({ spec: n.spec, status: n.status });
}

function containersOf(p: K8sObject): unknown {
  return ((p.spec ?? {}) as Record<string, unknown>).containers;
}

function sameKeys(what: string, a: Map<string, K8sObject>, b: Map<string, K8sObject>): void {
  const gone = [...a.keys()].filter((k) => !b.has(k));
  const added = [...b.keys()].filter((k) => !a.has(k));
  if (gone.length > 0 || added.length > 0) {
    throw new Error(
      `the ${what} of a shared cluster are fixed; the new state ${[
        ...gone.map((k) => `drops ${k}`),
        ...added.map((k) => `adds ${k}`),
      ].join(', ')}`,
    );
  }
}

export function planWrites(
  current: readonly K8sObject[],
  desired: readonly K8sObject[],
  policyChange: PolicyChange = 'recreate',
): ClusterWrite[] {
  const deletes: ClusterWrite[] = [];
  const patches: ClusterWrite[] = [];
  const creates: ClusterWrite[] = [];

  const nsNow = byKind(current, 'Namespace');
  const nsNext = byKind(desired, 'Namespace');
  sameKeys('namespaces', nsNow, nsNext);
  for (const [key, next] of nsNext) {
    const labels = labelPatch(meta(nsNow.get(key)!).labels, meta(next).labels);
    if (labels) patches.push({ op: 'patch', ref: refOf(next), mergePatch: { metadata: { labels } } });
  }

  const nodesNow = byKind(current, 'Node');
  const nodesNext = byKind(desired, 'Node');
  sameKeys('nodes', nodesNow, nodesNext);
  for (const [key, next] of nodesNext) {
    const now = nodesNow.get(key)!;
    if (nodeWiring(now) !== nodeWiring(next))
      throw new Error(`${key}: addresses or spec differ; a shared cluster cannot rewire a node`);
    const labels = labelPatch(meta(now).labels, meta(next).labels);
    if (labels) patches.push({ op: 'patch', ref: refOf(next), mergePatch: { metadata: { labels } } });
  }

  const podsNow = byKind(current, 'Pod');
  const podsNext = byKind(desired, 'Pod');
  sameKeys('pods', podsNow, podsNext);
  for (const [key, next] of podsNext) {
    const now = podsNow.get(key)!;
    if (podWiring(now) !== podWiring(next))
      throw new Error(`${key}: node, addresses or phase differ; a shared cluster cannot rewire a pod`);
    const patch: Record<string, unknown> = {};
    const labels = labelPatch(meta(now).labels, meta(next).labels);
    if (labels) patch.metadata = { labels };
    if (canonicalJson(containersOf(now)) !== canonicalJson(containersOf(next)))
      patch.spec = { containers: containersOf(next) };
    if (Object.keys(patch).length > 0) patches.push({ op: 'patch', ref: refOf(next), mergePatch: patch });
  }

  for (const kind of POLICY_KINDS) {
    const polNow = byKind(current, kind);
    const polNext = byKind(desired, kind);
    for (const [key, now] of polNow) {
      const next = polNext.get(key);
      const changed = next !== undefined && canonicalJson(now.spec) !== canonicalJson(next.spec);
      if (next === undefined || (changed && policyChange === 'recreate'))
        deletes.push({ op: 'delete', ref: refOf(now) });
      else if (changed) creates.push({ op: 'replace', object: next });
    }
    for (const [key, next] of polNext) {
      const now = polNow.get(key);
      const changed = now !== undefined && canonicalJson(now.spec) !== canonicalJson(next.spec);
      if (now === undefined || (changed && policyChange === 'recreate'))
        creates.push({ op: 'create', object: next });
    }
  }
  return [...deletes, ...patches, ...creates];
}
