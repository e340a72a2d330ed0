/**
 * A small client of a sandbox's API server for the sandbox's own programs (the cluster
 * simulator, probes, tests): JSON requests and watches over HTTPS with the sandbox's bearer
 * token and CA, either at a URL (from a kubeconfig) or through a Unix socket (the fabric relay's,
 * which every network namespace sees). undici does the HTTP; nothing here parses HTTP itself.
 *
 * Why not client-node: its typed models rename fields (NetworkPolicy `from` becomes `_from`),
 * and the simulator needs only plain objects, list+watch and a few writes.
 */
import { readFileSync } from 'node:fs';
import { Agent, fetch, type Dispatcher } from 'undici';
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
  private readonly dispatcher: Dispatcher;

  constructor(readonly options: KubeRestOptions) {
    this.dispatcher = new Agent({
      connect: {
        ...(options.ca ? { ca: options.ca } : {}),
        ...(options.socketPath ? { socketPath: options.socketPath } : {}),
      },
      keepAliveTimeout: 30_000,
      connections: 64,
    });
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

  private headers(contentType?: string): Record<string, string> {
    return {
      accept: 'application/json',
      ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
      ...(contentType ? { 'content-type': contentType } : {}),
    };
  }

  async call(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
    timeoutMs = 15_000,
  ): Promise<Json> {
    const r = await fetch(`${this.options.server}${path}`, {
      method,
      headers: this.headers(body !== undefined ? contentType : undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: this.dispatcher,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await r.text();
    let json: Json | undefined;
    try {
      json = JSON.parse(text) as Json;
    } catch {
      json = undefined;
    }
    if (!r.ok || json === undefined) throw new KubeApiError(method, path, r.status, json, text);
    return json;
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
    const controller = new AbortController();
    const sep = path.includes('?') ? '&' : '?';
    const url = `${this.options.server}${path}${sep}watch=true&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}`;
    const done = (async () => {
      const r = await fetch(url, {
        headers: this.headers(),
        dispatcher: this.dispatcher,
        signal: controller.signal,
      });
      if (!r.ok || !r.body) throw new KubeApiError('GET', path, r.status, undefined, await r.text());
      const decoder = new TextDecoder();
      let pending = '';
      for await (const chunk of r.body) {
        pending += decoder.decode(chunk as Uint8Array, { stream: true });
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line === '') continue;
          const event = JSON.parse(line) as { type: string; object: Json };
          onEvent(event.type, event.object);
        }
      }
    })().catch((e: unknown) => {
      if (controller.signal.aborted) return;
      throw e;
    });
    return { stop: () => controller.abort(), done };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
