/**
 * The local debug endpoint: HTTP over a unix socket (root-only, mode 0600), JSON responses.
 * The operator CLI (status, rules, explain, diff, ipsets, chains) is a client of it. Routes,
 * all GET, documented with examples in agent/daemon/README.md:
 *
 *   /v1/status              agent status: sync, last apply, counts, errors, last drift repair
 *   /v1/model               the slim model {namespaces, pods, policies}; ?kind=pods|namespaces|policies,
 *                           ?namespace=NS filters pods and policies
 *   /v1/state               the compiled state (IR): subject pods, policies, peer sets
 *   /v1/verdict             ?from=EP&to=EP&port=N&protocol=TCP  (EP = namespace/pod or an IP)
 *   /v1/dataplane/desired   chains and ipsets the agent wants in the kernel
 *   /v1/dataplane/actual    chains and ipsets read back from the kernel (own objects only)
 *   /v1/drift               differences between the two (reads the kernel; does not repair)
 *
 * Errors are {"error": "..."} with status 400 (bad query), 404 (unknown path or pod), 500.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { PROTOCOLS, verdict, type Endpoint, type Protocol } from '../../compiler';
import { isIP } from '../../compiler/scenario/project';
import type { DriftReport } from '../../dataplane/api';
import type { ModelView } from './compilation';
import { closeServer, listen, requestURL, sendJSON } from './http-util';
import { errorFields, type Logger } from './logger';

export interface DebugSource {
  status(): unknown;
  view(): ModelView;
  desired(): unknown;
  actual(): Promise<unknown>;
  drift(): Promise<DriftReport>;
}

class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export const DEBUG_ROUTES = [
  '/v1/status',
  '/v1/model',
  '/v1/state',
  '/v1/verdict',
  '/v1/dataplane/desired',
  '/v1/dataplane/actual',
  '/v1/drift',
] as const;

function parseEndpoint(view: ModelView, name: string, text: string | null): Endpoint {
  if (!text) throw new BadRequest(`missing ?${name}= (namespace/pod or an IP address)`);
  if (isIP(text)) return { kind: 'ip', ip: text };
  if (/^[^/]+\/[^/]+$/.test(text)) {
    if (!view.pod(text)) throw new BadRequest(`${name}: no pod ${text}`, 404);
    return { kind: 'pod', key: text };
  }
  throw new BadRequest(`${name}: "${text}" is neither namespace/pod nor an IP address`);
}

function parseProbe(q: URLSearchParams): { port: number; protocol: Protocol } {
  const portText = q.get('port');
  if (portText === null) throw new BadRequest('missing ?port=');
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new BadRequest(`port: "${portText}" is not 1-65535`);
  const protocol = (q.get('protocol') ?? 'TCP').toUpperCase();
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new BadRequest(`protocol: "${protocol}" is not one of ${PROTOCOLS.join(', ')}`);
  }
  return { port, protocol: protocol as Protocol };
}

function model(view: ModelView, q: URLSearchParams): unknown {
  const kind = q.get('kind');
  const ns = q.get('namespace');
  if (kind !== null && !['pods', 'namespaces', 'policies'].includes(kind)) {
    throw new BadRequest(`kind: "${kind}" is not one of pods, namespaces, policies`);
  }
  const inNs = <T extends { namespace: string }>(xs: Iterable<T>) =>
    [...xs].filter((x) => ns === null || x.namespace === ns);
  const out: Record<string, unknown> = {};
  if (kind === null || kind === 'namespaces') out.namespaces = [...view.namespaces()];
  if (kind === null || kind === 'pods') out.pods = inNs(view.pods());
  if (kind === null || kind === 'policies') out.policies = inNs(view.policies());
  return out;
}

export class DebugServer {
  private readonly server: Server;
  private socketPath: string | undefined;

  constructor(
    private readonly source: DebugSource,
    private readonly log: Logger,
  ) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        if (err instanceof BadRequest) return sendJSON(res, err.status, { error: err.message });
        this.log.error('debug request failed', { path: req.url, ...errorFields(err) });
        if (!res.headersSent) sendJSON(res, 500, { error: errorFields(err).error });
      });
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET') throw new BadRequest('only GET is supported', 405);
    const url = requestURL(req);
    const q = url.searchParams;
    const s = this.source;
    switch (url.pathname) {
      case '/v1/status':
        return sendJSON(res, 200, s.status());
      case '/v1/model':
        return sendJSON(res, 200, model(s.view(), q));
      case '/v1/state':
        return sendJSON(res, 200, s.view().state());
      case '/v1/verdict': {
        const view = s.view();
        const from = parseEndpoint(view, 'from', q.get('from'));
        const to = parseEndpoint(view, 'to', q.get('to'));
        const probe = parseProbe(q);
        return sendJSON(res, 200, { from, to, probe, verdict: verdict(view, from, to, probe) });
      }
      case '/v1/dataplane/desired':
        return sendJSON(res, 200, s.desired());
      case '/v1/dataplane/actual':
        return sendJSON(res, 200, await s.actual());
      case '/v1/drift':
        return sendJSON(res, 200, await s.drift());
      default:
        throw new BadRequest(`no such path ${url.pathname}; routes: ${DEBUG_ROUTES.join(' ')}`, 404);
    }
  }

  /**
   * Listens on the unix socket `path`. A socket left by a dead agent is removed; a live one
   * (another agent answers) is an error, since two agents on one node would fight.
   */
  async start(path: string): Promise<void> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    if (await socketAnswers(path))
      throw new Error(`another process is serving ${path}; is an agent already running?`);
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await listen(this.server, { path });
    chmodSync(path, 0o600);
    this.socketPath = path;
    this.log.info('debug endpoint listening', { socket: path });
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
    if (this.socketPath) {
      try {
        unlinkSync(this.socketPath);
      } catch {
        // already gone
      }
      this.socketPath = undefined;
    }
  }
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}
