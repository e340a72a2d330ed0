/**
 * A small client of a sandbox's API server for the sandbox's own programs (the cluster
 * simulator, probes, tests): JSON requests and watches over HTTPS with the sandbox's bearer
 * token and CA, either at a URL (from a kubeconfig) or through a Unix socket (the fabric relay's,
 * or the API server's own, which every network namespace sees). Node's http/https client does the
 * HTTP (keep-alive, a bounded pool); nothing here parses HTTP itself.
 *
 * Why not client-node: its typed models rename fields (NetworkPolicy `from` becomes `_from`),
 * and the simulator needs only plain objects, list+watch and a few writes.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { parse as parseYaml } from 'yaml';

export type Json = Record<string, unknown>;

export class KubeApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: Json | undefined,
    text: string,
  ) {
    super(`${method} ${path}: HTTP ${status}: ${String(body?.message ?? text.slice(0, 200))}`);
  }

  get reason(): string {
    return String(this.body?.reason ?? '');
  }
}

export interface KubeRestOptions {
  /** https://host:port, or https://localhost when `socketPath` is given. */
  readonly server: string;
  readonly token?: string;
  /** PEM CA of the server. */
  readonly ca?: string;
  readonly socketPath?: string;
}

export interface WatchHandle {
  stop(): void;
  /** Settles when the stream ends: resolves on a clean end, rejects on a failure. */
  readonly done: Promise<void>;
}

export type WatchCallback = (type: string, object: Json) => void;

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  clusters?: { name: string; cluster: { server: string; 'certificate-authority-data'?: string } }[];
  users?: { name: string; user: { token?: string } }[];
}

export class KubeRest {
  private readonly agent: HttpsAgent;
  private readonly url: URL;

  constructor(readonly options: KubeRestOptions) {
    this.url = new URL(options.server);
    // Node's own HTTPS client with a keep-alive pool: a bounded number of connections reused
    // request after request (one TLS handshake each), requests beyond them queued in order.
    this.agent = new HttpsAgent({
      keepAlive: true,
      maxSockets: 16,
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.socketPath ? { socketPath: options.socketPath } : {}),
    } as ConstructorParameters<typeof HttpsAgent>[0]);
  }

  /** The server, token and CA of a kubeconfig's current context. */
  static fromKubeconfig(file: string): KubeRest {
    const kc = parseYaml(readFileSync(file, 'utf8')) as KubeconfigFile;
    const ctx = kc.contexts?.find((c) => c.name === kc['current-context']);
    const cluster = kc.clusters?.find((c) => c.name === ctx?.context.cluster)?.cluster;
    if (!cluster) throw new Error(`${file}: no cluster for the current context`);
    const user = kc.users?.find((u) => u.name === ctx?.context.user)?.user;
    const caData = cluster['certificate-authority-data'];
    return new KubeRest({
      server: cluster.server.replace(/\/$/, ''),
      token: user?.token,
      ca: caData ? Buffer.from(caData, 'base64').toString('utf8') : undefined,
    });
  }

  private headers(contentType?: string, length?: number): Record<string, string> {
    return {
      accept: 'application/json',
      ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
      ...(contentType ? { 'content-type': contentType } : {}),
      ...(length !== undefined ? { 'content-length': String(length) } : {}),
    };
  }

  private open(
    method: string,
    path: string,
    body: Buffer | undefined,
    contentType: string | undefined,
  ): ClientRequest {
    const secure = this.url.protocol === 'https:';
    const request = secure ? httpsRequest : httpRequest;
    return request({
      method,
      host: this.url.hostname,
      port: this.url.port || (secure ? 443 : 80),
      path,
      headers: this.headers(body ? contentType : undefined, body?.length),
      ...(secure ? { agent: this.agent, servername: this.url.hostname } : {}),
      ...(this.options.socketPath ? { socketPath: this.options.socketPath } : {}),
    });
  }

  call(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
    timeoutMs = 30_000,
  ): Promise<Json> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = this.open(method, path, payload, contentType);
      const timer = setTimeout(
        () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Json | undefined;
          try {
            json = JSON.parse(text) as Json;
          } catch {
            json = undefined;
          }
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300 || json === undefined)
            reject(new KubeApiError(method, path, status, json, text));
          else resolve(json);
        });
      });
      req.end(payload);
    });
  }

  get(path: string): Promise<Json> {
    return this.call('GET', path);
  }

  /** A list's items, with the list's resourceVersion. */
  async list(path: string): Promise<{ items: Json[]; resourceVersion: string }> {
    const list = await this.get(path);
    return {
      items: (list.items ?? []) as Json[],
      resourceVersion: String((list.metadata as Json | undefined)?.resourceVersion ?? ''),
    };
  }

  create(collectionPath: string, object: unknown): Promise<Json> {
    return this.call('POST', collectionPath, object);
  }

  mergePatch(path: string, patch: unknown): Promise<Json> {
    return this.call('PATCH', path, patch, 'application/merge-patch+json');
  }

  delete(path: string, options: Json = {}): Promise<Json> {
    return this.call('DELETE', path, { kind: 'DeleteOptions', apiVersion: 'v1', ...options });
  }

  /** Watches `path` from `resourceVersion`; every event goes to `onEvent`, in order. */
  watch(path: string, resourceVersion: string, onEvent: WatchCallback): WatchHandle {
    const sep = path.includes('?') ? '&' : '?';
    const full = `${path}${sep}watch=true&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}`;
    let req: ClientRequest | undefined;
    let stopped = false;
    const done = new Promise<void>((resolve, reject) => {
      req = this.open('GET', full, undefined, undefined);
      req.on('error', (e) => (stopped ? resolve() : reject(e)));
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new KubeApiError('GET', path, res.statusCode ?? 0, undefined, ''));
          return;
        }
        res.setEncoding('utf8');
        let pending = '';
        res.on('data', (chunk: string) => {
          pending += chunk;
          let nl: number;
          while ((nl = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, nl).trim();
            pending = pending.slice(nl + 1);
            if (line === '') continue;
            try {
              const event = JSON.parse(line) as { type: string; object: Json };
              onEvent(event.type, event.object);
            } catch (e) {
              req?.destroy(e as Error);
            }
          }
        });
        res.on('end', () => resolve());
        res.on('error', (e) => (stopped ? resolve() : reject(e)));
        res.on('close', () => resolve());
      });
      req.end();
    });
    return {
      stop: () => {
        stopped = true;
        req?.destroy();
      },
      done,
    };
  }

  async close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }
}
