/**
 * TestApiServer: a Kubernetes-API-compatible HTTP server for Namespaces, Pods, NetworkPolicies, Nodes,
 * CustomResourceDefinitions and the custom resources they define (ClusterNetworkPolicy validated as
 * its CRD says) that stock kubectl and @kubernetes/client-node can use, plus controls for tests.
 *
 *   HTTP request ──route()──▶ faults ──handle()──▶ Registry ──▶ VersionedStore ──events──▶ WatchHub ──▶ watch streams
 *   in-process create/update/delete ────────────▶ Registry (same path, so the same watch events)
 *
 * State (objects, revision counter, history) lives in the VersionedStore and survives restart() when
 * asked to; the HTTP listener, open connections and watches do not. Plain HTTP, no authentication.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { rmSync } from 'node:fs';
import { createServer as createTlsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { isAuthenticated, unauthorized } from './auth';
import type { ServerVersion } from './discovery';
import { ApiError, errors, toApiError } from './errors';
import { handleExecUpgrade, refuseUpgrade } from './exec/exec-handler';
import type { ExecBackend } from './exec/exec-process';
import { FaultInjector, type FaultRule } from './faults';
import type { TlsMaterial } from './tls';
import { handle, sendError, type HandlerContext } from './handlers';
import { route } from './http-router';
import { writeKubeconfig, type KubeconfigOptions } from './kubeconfig';
import {
  CRD_PLURAL,
  crdPlural,
  customResourceSchema,
  ServedTypes,
} from './kinds/custom-resource-definitions';
import { CUSTOM_RESOURCE_IMPLEMENTATIONS } from './kinds/implementations';
import { Registry, type ListOptions, type PatchType } from './registry';
import { namespaces, resourceByKind, RESOURCE_TYPES, type ResourceType } from './resources';
import { VersionedStore } from './store';
import type { KubeObject } from './types';
import { WatchHub } from './watch-hub';

export type KindName =
  | 'Namespace'
  | 'Pod'
  | 'NetworkPolicy'
  | 'Node'
  | 'Deployment'
  | 'StatefulSet'
  | 'CustomResourceDefinition'
  /** Served only while its CRD exists (CLUSTER_NETWORK_POLICY_CRD). */
  | 'ClusterNetworkPolicy';

export interface ObjectRef {
  kind: KindName;
  name: string;
  namespace?: string;
}

export interface ApiServerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /**
   * Objects present at start (status kept as given). Namespaces are created first, then
   * CustomResourceDefinitions, so that custom resources of those CRDs can follow.
   */
  objects?: KubeObject[];
  /**
   * State saved by a previous server (`saveState()`): served as it was, revisions continuing
   * (see VersionedStore.restore). Replaces `objects` and `seedNamespaces`.
   */
  restore?: SavedState;
  /** Namespaces created at start, as every cluster has; default ["default"]. */
  seedNamespaces?: string[];
  /** Watch events retained for replay; older resourceVersions answer 410 Expired. Default 1000. */
  historyLimit?: number;
  /** Period of BOOKMARK events on watches that allow them. Default 1000 ms. */
  bookmarkIntervalMs?: number;
  /** What /version reports. Default v1.32.4. */
  version?: ServerVersion;
  now?: () => Date;
  /** Called when each response finishes (e.g. to log requests). */
  onRequest?: (record: RequestRecord) => void;
  /** When set, every request must carry `Authorization: Bearer <token>` (else 401). */
  token?: string;
  /** Runs `pods/exec` commands; without it exec answers 501. */
  exec?: ExecBackend;
  /** Pods bound to a node are deleted gracefully (their kubelet removes them): see RegistryOptions. */
  gracefulPodDeletion?: boolean;
  /** Serve HTTPS with this certificate (kubectl sends a token only over TLS; see tls.ts). */
  tls?: TlsMaterial;
}

/** What survives a restart of the server process: every object and the revision counter. */
export interface SavedState {
  readonly revision: number;
  readonly objects: KubeObject[];
}

export interface RequestRecord {
  method: string;
  url: string;
  accept?: string;
  contentType?: string;
  userAgent?: string;
  status?: number;
}

const MAX_BODY_BYTES = 3 * 1024 * 1024;
const REQUEST_LOG_LIMIT = 500;

export class TestApiServer {
  readonly host: string;
  private boundPort: number;
  private store: VersionedStore;
  private registry: Registry;
  private hub: WatchHub;
  private served: ServedTypes;
  private readonly faults = new FaultInjector();
  private server?: Server;
  private readonly extraServers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly options: Required<
    Omit<
      ApiServerOptions,
      'objects' | 'restore' | 'port' | 'host' | 'onRequest' | 'token' | 'exec' | 'gracefulPodDeletion' | 'tls'
    >
  >;
  private readonly token: string | undefined;
  private readonly execBackend: ExecBackend | undefined;
  private readonly gracefulPodDeletion: boolean;
  readonly tls: TlsMaterial | undefined;
  private readonly onRequestDone?: (record: RequestRecord) => void;
  /** Recent requests, newest last: handy to see what a client really sent. */
  readonly requests: RequestRecord[] = [];

  private constructor(options: ApiServerOptions) {
    this.host = options.host ?? '127.0.0.1';
    this.boundPort = options.port ?? 0;
    this.options = {
      seedNamespaces: options.seedNamespaces ?? ['default'],
      historyLimit: options.historyLimit ?? 1000,
      bookmarkIntervalMs: options.bookmarkIntervalMs ?? 1000,
      version: options.version ?? { major: '1', minor: '32', gitVersion: 'v1.32.4' },
      now: options.now ?? (() => new Date()),
    };
    this.onRequestDone = options.onRequest;
    this.token = options.token;
    this.execBackend = options.exec;
    this.gracefulPodDeletion = options.gracefulPodDeletion === true;
    this.tls = options.tls;
    this.store = new VersionedStore(this.options.historyLimit);
    this.served = new ServedTypes(this.store, RESOURCE_TYPES, CUSTOM_RESOURCE_IMPLEMENTATIONS);
    this.registry = new Registry(this.store, this.options.now, () => this.served.all(), {
      gracefulPodDeletion: this.gracefulPodDeletion,
    });
    this.hub = new WatchHub(this.store, this.options.bookmarkIntervalMs);
    // A deleted CRD takes its resource with it: watches of it end, as the API server closes them.
    this.store.subscribe((event) => {
      if (event.resource === CRD_PLURAL && event.type === 'DELETED')
        this.hub.closeResource(crdPlural(event.object));
    });
  }

  /** The kinds served now: the built-in ones and the custom resources of the current CRDs. */
  servedTypes(): readonly ResourceType[] {
    return this.served.all();
  }

  private typeOf(kind: string | undefined): ResourceType {
    const rt = this.served.all().find((r) => r.kind === kind);
    if (!rt)
      throw new Error(`the test API server does not serve kind ${String(kind)} (is its CRD installed?)`);
    return rt;
  }

  private typeOfObject(obj: KubeObject): ResourceType {
    const rt = obj.apiVersion
      ? resourceByKind(obj.apiVersion, obj.kind, this.served.all())
      : this.typeOf(obj.kind);
    if (!rt)
      throw new Error(
        `the test API server does not serve ${String(obj.apiVersion)} ${String(obj.kind)} (is its CRD installed?)`,
      );
    return rt;
  }

  static async start(options: ApiServerOptions = {}): Promise<TestApiServer> {
    const server = new TestApiServer(options);
    if (options.restore) server.restoreState(options.restore);
    else server.seed(options.objects ?? []);
    await server.listen();
    return server;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `${this.tls ? 'https' : 'http'}://${host}:${this.boundPort}`;
  }

  /** The current global resourceVersion. */
  get resourceVersion(): string {
    return String(this.store.currentRevision);
  }

  get activeWatches(): number {
    return this.hub.activeCount;
  }

  /** Stops listening and drops every connection (open watches see a broken stream). */
  async stop(): Promise<void> {
    for (const extra of this.extraServers.splice(0)) extra.close();
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Connections break mid-stream (no clean end of the chunked watch bodies), as when a real apiserver
    // goes away; only then are the watches unregistered.
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.hub.closeAll();
    await closed;
  }

  /**
   * Stops and listens again on the same port. keepState (default true) keeps objects, revisions and
   * history; without it every object is gone, revisions keep counting up, and any older
   * resourceVersion is expired, so clients must relist.
   */
  async restart(options: { keepState?: boolean } = {}): Promise<void> {
    await this.stop();
    if (options.keepState === false) {
      this.store.reset();
      this.seed([]);
    }
    await this.listen();
  }

  /**
   * Ends every watch and compacts all history (advancing the revision once), so any watch resumed from
   * a resourceVersion a client holds gets ERROR 410 Expired, and the client must relist.
   */
  expireWatches(): void {
    this.store.compact(true);
    this.hub.closeAll();
  }

  /** Ends every watch without expiring anything: clients resume from their last resourceVersion. */
  closeWatches(): void {
    this.hub.closeAll();
  }

  /** Adds a latency/failure rule; returns its removal. */
  injectFault(rule: FaultRule): () => void {
    return this.faults.add(rule);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  writeKubeconfig(path: string, options: KubeconfigOptions = {}): void {
    writeKubeconfig(path, this.url, {
      ...(this.token ? { token: this.token } : {}),
      ...(this.tls ? { certificateAuthority: this.tls.cert } : {}),
      ...options,
    });
  }

  // In-process access. Writes go through the same registry as HTTP writes (same validation, defaults,
  // resourceVersions and watch events) but are privileged: status may be set directly.

  create<T extends KubeObject>(obj: T): T {
    const rt = this.typeOfObject(obj);
    return this.registry.create(rt, obj.metadata.namespace, obj, { privileged: true }) as T;
  }

  /** Replaces an object; metadata.resourceVersion, when set, must be current (else 409 Conflict). */
  update<T extends KubeObject>(obj: T): T {
    const rt = this.typeOfObject(obj);
    return this.registry.update(rt, obj.metadata.namespace, obj.metadata.name ?? '', obj, {
      privileged: true,
    }) as T;
  }

  /** Replaces only the status of an object, as PUT .../status does. */
  updateStatus<T extends KubeObject>(obj: T): T {
    const rt = this.typeOfObject(obj);
    return this.registry.update(rt, obj.metadata.namespace, obj.metadata.name ?? '', obj, {
      privileged: true,
      subresource: 'status',
    }) as T;
  }

  patch(
    ref: ObjectRef,
    type: Exclude<PatchType, 'apply'>,
    patch: unknown,
    subresource?: 'status',
  ): KubeObject {
    return this.registry.patch(this.typeOf(ref.kind), ref.namespace, ref.name, type, patch, {
      privileged: true,
      subresource,
    }).object;
  }

  /** Deletes an object; a pod under graceful deletion gets its deletionTimestamp instead. */
  delete(ref: ObjectRef, options: { gracePeriodSeconds?: number } = {}): KubeObject {
    return this.registry.delete(this.typeOf(ref.kind), ref.namespace, ref.name, options).object;
  }

  get(ref: ObjectRef): KubeObject | undefined {
    try {
      return this.registry.get(this.typeOf(ref.kind), ref.namespace, ref.name);
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  list(kind: KindName, options: Omit<ListOptions, 'limit' | 'continue'> = {}): KubeObject[] {
    return this.registry.list(this.typeOf(kind), options).items;
  }

  /** Every stored object, namespaces first, CRDs before their custom resources: what a state file saves. */
  snapshot(): KubeObject[] {
    const plurals = [...new Set(this.served.all().map((rt) => rt.plural))];
    return plurals.flatMap((plural) => this.store.list(plural));
  }

  /** Every object and the revision: what `restore` takes to serve the same state in a new process. */
  saveState(): SavedState {
    return { revision: this.store.currentRevision, objects: this.snapshot() };
  }

  private restoreState(saved: SavedState): void {
    // Namespaces and CRDs first: a custom resource's plural comes from its CRD, which the store
    // must hold by the time the generator reaches it.
    const rank = (o: KubeObject): number =>
      o.kind === 'Namespace' ? 0 : o.kind === 'CustomResourceDefinition' ? 1 : 2;
    const ordered = [...saved.objects].sort((a, b) => rank(a) - rank(b));
    const typeOf = (o: KubeObject): string => this.typeOfObject(o).plural;
    this.store.restore(
      (function* () {
        for (const object of ordered) yield { resource: typeOf(object), object };
      })(),
      saved.revision,
    );
  }

  onChange(listener: () => void): () => void {
    return this.store.subscribe(() => listener());
  }

  private seed(objects: KubeObject[]): void {
    const isNamespace = (o: KubeObject) => o.kind === 'Namespace';
    const given = new Set(objects.filter(isNamespace).map((o) => o.metadata.name));
    for (const name of this.options.seedNamespaces) {
      if (!given.has(name)) this.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    }
    const isCrd = (o: KubeObject) => o.kind === 'CustomResourceDefinition';
    const ordered = [
      ...objects.filter(isNamespace),
      ...objects.filter(isCrd),
      ...objects.filter((o) => !isNamespace(o) && !isCrd(o)),
    ];
    for (const obj of ordered) {
      const rt = this.typeOfObject(obj);
      const namespaced =
        rt !== namespaces && !obj.metadata.namespace
          ? { ...obj, metadata: { ...obj.metadata, namespace: 'default' } }
          : obj;
      this.create(namespaced);
    }
  }

  /**
   * Also serves on a Unix socket (same handlers, TLS and token): local programs in other network
   * namespaces reach the server through the path, with no relay in between. Stopped with the server.
   */
  async listenOnSocket(path: string): Promise<void> {
    rmSync(path, { force: true });
    const server = this.makeServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.extraServers.push(server);
  }

  private makeServer(): Server {
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.onRequest(req, res);
    const server = this.tls
      ? createTlsServer({ cert: this.tls.cert, key: this.tls.key }, handler)
      : createServer(handler);
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    server.keepAliveTimeout = 30_000;
    server.on(this.tls ? 'secureConnection' : 'connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    return server;
  }

  private async listen(): Promise<void> {
    const server = this.makeServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address && typeof address === 'object') this.boundPort = address.port;
    this.server = server;
  }

  private context(): HandlerContext {
    return {
      registry: this.registry,
      hub: this.hub,
      served: this.served.all(),
      customSchema: (rt) => {
        const crd = this.served.crdOf(rt);
        return crd ? customResourceSchema(crd, rt.version) : undefined;
      },
      version: this.options.version,
      serverAddress: `${this.host}:${this.boundPort}`,
      now: this.options.now,
    };
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record: RequestRecord = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      accept: req.headers.accept,
      contentType: req.headers['content-type'],
      userAgent: req.headers['user-agent'],
    };
    this.requests.push(record);
    if (this.requests.length > REQUEST_LOG_LIMIT)
      this.requests.splice(0, this.requests.length - REQUEST_LOG_LIMIT);
    res.on('close', () => {
      record.status = res.statusCode;
      this.onRequestDone?.(record);
    });
    try {
      if (!isAuthenticated(req.headers, this.token)) {
        req.resume();
        throw unauthorized();
      }
      const url = new URL(req.url ?? '/', 'http://localhost');
      const isWatch =
        url.searchParams.get('watch') === 'true' ||
        url.searchParams.get('watch') === '1' ||
        url.pathname.includes('/watch/');
      const body = await readBody(req);
      const decision = this.faults.decide(record.method, url.pathname + url.search, isWatch);
      if (decision.latencyMs > 0) await new Promise((r) => setTimeout(r, decision.latencyMs));
      if (decision.error) throw decision.error;
      const matched = route(url.pathname, this.served.all());
      if (!matched) throw errors.pathNotFound();
      handle(
        this.context(),
        { method: record.method, route: matched, query: url.searchParams, headers: req.headers, body },
        res,
      );
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendError(res, toApiError(err));
    }
  }

  /** Upgrade requests: only pods/{name}/exec (to WebSocket, for kubectl exec); the rest is refused. */
  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const record: RequestRecord = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      userAgent: req.headers['user-agent'],
    };
    this.requests.push(record);
    try {
      if (!isAuthenticated(req.headers, this.token)) throw unauthorized();
      const url = new URL(req.url ?? '/', 'http://localhost');
      const matched = route(url.pathname);
      if (matched?.kind !== 'resource' || matched.subresource !== 'exec' || matched.name === undefined)
        throw errors.badRequest('only pods/{name}/exec can be upgraded');
      handleExecUpgrade(
        this.registry,
        this.execBackend,
        matched.rt,
        matched.namespace,
        matched.name,
        url.searchParams,
        req,
        socket,
        head,
      );
      record.status = 101;
    } catch (err) {
      const apiError = toApiError(err);
      record.status = apiError.code;
      refuseUpgrade(socket, apiError);
    }
    this.onRequestDone?.(record);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ApiError(413, 'RequestEntityTooLarge', 'the request body is too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startApiServer(options: ApiServerOptions = {}): Promise<TestApiServer> {
  return TestApiServer.start(options);
}
