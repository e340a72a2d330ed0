/**
 * Writes to a sandbox's API server (from the host namespace, at the URL of the sandbox's
 * kubeconfig) and the resourceVersion each watched resource must reach before an agent has
 * seen them all.
 *
 * Plain HTTP with JSON bodies, exactly as kubectl sends them. Not client-node's generic
 * KubernetesObjectApi: it serializes through the typed models, whose NetworkPolicy rule has
 * `_from` where the wire has `from`, so a plain object's `from` is silently dropped (a policy
 * that admits one pod becomes one that admits everything; the agent reads lists in the wire
 * format for the same reason). As a guard, every create and replace checks that the server
 * stored every field it was sent (the server may add defaults, never lose anything).
 *
 * Why targets per resource: an agent watches namespaces, pods and networkpolicies on three
 * streams, and each stream's resourceVersion moves only with events of its own resource. The
 * target of a resource is the revision of the last write to it: a create, replace or patch
 * returns it; a delete returns a Status without one, so the server's current revision is read
 * right after (a list's resourceVersion). That is exact while the caller is the only writer,
 * which the conformance and update tests are (agents only read).
 */
import type { K8sObject } from '../sandbox';
import { KubeRest } from '../sandbox/live/kube-rest';
import { canonicalJson, refText, type ClusterWrite, type ObjectKind, type ObjectRef } from './cluster-writes';

export type WatchedResource = 'namespaces' | 'nodes' | 'pods' | 'networkpolicies' | 'clusternetworkpolicies';

/** Per resource, the revision an agent's watch of it must have reached. */
export type WatchTargets = Partial<Record<WatchedResource, number>>;

export const RESOURCE_OF_KIND: Readonly<Record<ObjectKind, WatchedResource>> = {
  Namespace: 'namespaces',
  Node: 'nodes',
  Pod: 'pods',
  NetworkPolicy: 'networkpolicies',
  ClusterNetworkPolicy: 'clusternetworkpolicies',
};

export const API_VERSION_OF_KIND: Readonly<Record<ObjectKind, string>> = {
  Namespace: 'v1',
  Node: 'v1',
  Pod: 'v1',
  NetworkPolicy: 'networking.k8s.io/v1',
  ClusterNetworkPolicy: 'policy.networking.k8s.io/v1alpha2',
};

const CLUSTER_SCOPED: ReadonlySet<ObjectKind> = new Set(['Namespace', 'Node', 'ClusterNetworkPolicy']);

function groupPath(kind: ObjectKind): string {
  const v = API_VERSION_OF_KIND[kind];
  return v.includes('/') ? `/apis/${v}` : `/api/${v}`;
}

function collectionPath(kind: ObjectKind, namespace: string | undefined): string {
  const ns =
    CLUSTER_SCOPED.has(kind) || namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  return `${groupPath(kind)}${ns}/${RESOURCE_OF_KIND[kind]}`;
}

function itemPath(ref: ObjectRef): string {
  return `${collectionPath(ref.kind, ref.namespace)}/${encodeURIComponent(ref.name)}`;
}

function refOf(o: K8sObject): ObjectRef {
  const m = o.metadata as { name: string; namespace?: string };
  return {
    kind: o.kind as ObjectKind,
    name: m.name,
    ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
  };
}

/**
 * Paths of `sent` whose value `stored` lacks or changed (objects compared key by key, so the
 * server may add fields; arrays and scalars compared whole). Empty when nothing was lost.
 */
export function lostFields(sent: unknown, stored: unknown, path = ''): string[] {
  if (sent !== null && typeof sent === 'object' && !Array.isArray(sent)) {
    if (stored === null || typeof stored !== 'object' || Array.isArray(stored)) return [path || '.'];
    const s = stored as Record<string, unknown>;
    return Object.entries(sent as Record<string, unknown>).flatMap(([k, v]) =>
      v === undefined ? [] : lostFields(v, s[k], `${path}.${k}`),
    );
  }
  if (Array.isArray(sent)) {
    if (!Array.isArray(stored) || stored.length !== sent.length) return [path];
    return sent.flatMap((v, i) => lostFields(v, stored[i], `${path}[${i}]`));
  }
  return canonicalJson(sent) === canonicalJson(stored) ? [] : [path];
}

type Json = Record<string, unknown>;

export class ApiWriter {
  constructor(private readonly api: KubeRest) {}

  /** The server, token and CA of the kubeconfig (the sandbox's API server is HTTPS with a token). */
  static fromKubeconfig(file: string): ApiWriter {
    return new ApiWriter(KubeRest.fromKubeconfig(file));
  }

  private call(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<Json> {
    return this.api.call(method, path, body, contentType, 10_000);
  }

  async close(): Promise<void> {
    await this.api.close();
  }

  /** The server's current revision (the resourceVersion of a list). */
  async revision(kind: ObjectKind = 'Namespace'): Promise<number> {
    const list = await this.call('GET', `${collectionPath(kind, undefined)}?limit=1`);
    return revisionOf(list, `list ${kind}`);
  }

  /**
   * What the server holds of `kinds`, in the shape of k8s-objects.ts (metadata name,
   * namespace, labels; spec; status): where to start again after a failed write left the
   * caller unsure.
   */
  async readState(
    kinds: readonly ObjectKind[] = ['Namespace', 'Pod', 'NetworkPolicy'],
  ): Promise<K8sObject[]> {
    const out: K8sObject[] = [];
    for (const kind of kinds) {
      const list = await this.call('GET', collectionPath(kind, undefined));
      for (const o of (list.items ?? []) as Json[]) {
        const m = (o.metadata ?? {}) as { name: string; namespace?: string; labels?: Record<string, string> };
        out.push({
          apiVersion: API_VERSION_OF_KIND[kind],
          kind,
          metadata: {
            name: m.name,
            ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
            labels: { ...m.labels },
          },
          ...(kind === 'Namespace' ? {} : { spec: o.spec }),
          ...(kind === 'Pod' || kind === 'Node' ? { status: o.status } : {}),
        });
      }
    }
    return out;
  }

  /** Runs the writes in order; returns the revision each written resource must reach. */
  async apply(writes: readonly ClusterWrite[]): Promise<WatchTargets> {
    const targets: WatchTargets = {};
    for (const w of writes) {
      const kind = w.op === 'create' || w.op === 'replace' ? (w.object.kind as ObjectKind) : w.ref.kind;
      const r = RESOURCE_OF_KIND[kind];
      targets[r] = Math.max(targets[r] ?? 0, await this.write(w));
    }
    return targets;
  }

  /** One write; returns the revision it produced. */
  private async write(w: ClusterWrite): Promise<number> {
    switch (w.op) {
      case 'create':
      case 'replace': {
        const ref = refOf(w.object);
        const what = `${w.op} ${refText(ref)}`;
        const stored =
          w.op === 'create'
            ? await this.call('POST', collectionPath(ref.kind, ref.namespace), w.object)
            : await this.call('PUT', itemPath(ref), w.object);
        const lost = lostFields(
          { metadata: { labels: w.object.metadata.labels }, spec: w.object.spec },
          stored,
        );
        if (lost.length > 0) throw new Error(`${what}: the server did not store ${lost.join(', ')}`);
        return revisionOf(stored, what);
      }
      case 'patch':
        return revisionOf(
          await this.call('PATCH', itemPath(w.ref), w.mergePatch, 'application/merge-patch+json'),
          `patch ${refText(w.ref)}`,
        );
      case 'delete':
        await this.call('DELETE', itemPath(w.ref));
        return this.revision(w.ref.kind);
    }
  }
}

function revisionOf(o: Json, what: string): number {
  const rv = Number((o.metadata as { resourceVersion?: string } | undefined)?.resourceVersion);
  if (!Number.isInteger(rv)) throw new Error(`${what}: the answer carries no resourceVersion`);
  return rv;
}
