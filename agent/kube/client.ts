/**
 * The Kubernetes API as the reflectors see it: per resource, one paginated list call and one
 * watch call, both through @kubernetes/client-node 2.x (KubeConfig for authentication and TLS,
 * its Watch, and list requests made the way the Watch makes its own).
 *
 * client-node 2.x is an ES module and Palisade is CommonJS: it is loaded with a dynamic
 * import() (kept as-is by tsc for module node16), so only this file deals with that.
 */
import { existsSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };

export type ClientNode = typeof import('@kubernetes/client-node', { with: { 'resolution-mode': 'import' } });

let clientNode: Promise<ClientNode> | undefined;

/** The client-node module, imported once. */
export function loadClientNode(): Promise<ClientNode> {
  clientNode ??= import('@kubernetes/client-node');
  return clientNode;
}

/** A kubeconfig file, or the in-cluster service account when `file` is undefined. */
export async function loadKubeConfig(file: string | undefined): Promise<KubeConfig> {
  const k8s = await loadClientNode();
  const kc = new k8s.KubeConfig();
  if (file !== undefined) {
    if (!existsSync(file)) throw new Error(`kubeconfig ${file} does not exist`);
    kc.loadFromFile(file);
  } else {
    if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT) {
      throw new Error(
        'no --kubeconfig given and not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset); pass --kubeconfig or set KUBECONFIG',
      );
    }
    kc.loadFromCluster();
  }
  if (!kc.getCurrentCluster()) throw new Error('kubeconfig has no current cluster');
  // client-node refuses a plain-HTTP server unless TLS verification is marked skipped, although
  // there is no TLS to verify; kubectl accepts such a kubeconfig (kubectl proxy, test servers), so do we.
  kc.clusters = kc.clusters.map((c) => (c.server.startsWith('http:') ? { ...c, skipTLSVerify: true } : c));
  return kc;
}

/** One page of a list: the items as the API returned them, and where to go on. */
export interface ListPage {
  readonly items: readonly unknown[];
  readonly resourceVersion: string;
  /** The continue token of the next page; undefined on the last page. */
  readonly continueToken: string | undefined;
}

export interface WatchParams {
  readonly resourceVersion: string;
  /** The server ends the watch after this long (client-go picks 5–10 min at random). */
  readonly timeoutSeconds: number;
}

/**
 * List and watch of one resource, cluster-wide. `watch` mirrors client-node's Watch.watch:
 * events arrive on `onEvent` (type ADDED, MODIFIED, DELETED, BOOKMARK or ERROR, object as
 * decoded JSON); `onDone` is called exactly once when the watch ends for any reason.
 */
export interface ResourceClient {
  readonly resource: ResourceName;
  list(limit: number, continueToken: string | undefined): Promise<ListPage>;
  watch(
    params: WatchParams,
    onEvent: (type: string, obj: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<AbortController>;
}

export type ResourceName = 'namespaces' | 'pods' | 'networkpolicies' | 'nodes' | 'clusternetworkpolicies';

export const WATCH_PATHS: Record<ResourceName, string> = {
  namespaces: '/api/v1/namespaces',
  pods: '/api/v1/pods',
  networkpolicies: '/apis/networking.k8s.io/v1/networkpolicies',
  nodes: '/api/v1/nodes',
  // A CRD (network-policy-api): a cluster may not have it; the reflector treats 404 as "not served".
  clusternetworkpolicies: '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies',
};

export const RESOURCE_NAMES = Object.keys(WATCH_PATHS) as ResourceName[];

/** A list response as the API server sends it (wire format, the same shape as watch events). */
interface WireList {
  items?: unknown[];
  metadata?: { resourceVersion?: string; continue?: string };
}

const LIST_TIMEOUT_MS = 60_000;

/**
 * The resource clients of the agent over one KubeConfig.
 *
 * Lists are plain GETs made the way client-node's Watch makes its requests (RequestContext,
 * KubeConfig authentication and TLS, the same undici fetch), not through the generated typed
 * APIs: those rename fields that collide with TypeScript words (NetworkPolicyIngressRule.from
 * becomes `_from`), and a projection reading `from` would then see no peers at all — a rule
 * allowing everyone. Lists and watch events therefore reach the projections in one shape, the
 * wire format.
 */
export async function createResourceClients(kc: KubeConfig): Promise<Record<ResourceName, ResourceClient>> {
  const k8s = await loadClientNode();
  const { fetch } = await import('undici');
  const watcher = new k8s.Watch(kc);
  const server = kc.getCurrentCluster()!.server;
  const make = (resource: ResourceName): ResourceClient => ({
    resource,
    async list(limit, continueToken) {
      const url = new URL(server + WATCH_PATHS[resource]);
      url.searchParams.set('limit', String(limit));
      if (continueToken !== undefined) url.searchParams.set('continue', continueToken);
      const ctx = new k8s.RequestContext(url.toString(), k8s.HttpMethod.GET);
      ctx.setHeaderParam('Accept', 'application/json');
      await kc.applySecurityAuthentication(ctx);
      const res = await fetch(url, {
        method: 'GET',
        headers: ctx.getHeaders(),
        dispatcher: ctx.getDispatcher(),
        signal: AbortSignal.timeout(LIST_TIMEOUT_MS),
      });
      const text = await res.text();
      if (res.status !== 200) throw listError(res.status, text);
      const body = JSON.parse(text) as WireList;
      return {
        items: body.items ?? [],
        resourceVersion: body.metadata?.resourceVersion ?? '',
        continueToken: body.metadata?.continue || undefined,
      };
    },
    watch(params, onEvent, onDone) {
      return watcher.watch(
        WATCH_PATHS[resource],
        {
          resourceVersion: params.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: params.timeoutSeconds,
        },
        (type, obj) => onEvent(type, obj),
        onDone,
      );
    },
  });
  return {
    namespaces: make('namespaces'),
    pods: make('pods'),
    networkpolicies: make('networkpolicies'),
    nodes: make('nodes'),
    clusternetworkpolicies: make('clusternetworkpolicies'),
  };
}

/** An error carrying the HTTP status and the API's Status message. */
function listError(status: number, body: string): Error {
  let message = `list failed with HTTP ${status}`;
  try {
    const s = JSON.parse(body) as { message?: unknown };
    if (typeof s.message === 'string') message = `${message}: ${s.message}`;
  } catch {
    // not a Status object
  }
  return Object.assign(new Error(message), { statusCode: status });
}

/** The HTTP status of a failed list or watch, when there is one (ApiException.code, Watch's statusCode). */
export function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { statusCode?: unknown; code?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.code === 'number') return e.code;
  return undefined;
}
