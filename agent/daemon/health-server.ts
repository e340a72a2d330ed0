/**
 * The HTTP server on --metrics-address, for kubelet probes and Prometheus:
 *   GET /healthz  200 while the process runs and the runner is not wedged, else 503
 *   GET /readyz   200 once the first apply succeeded (rules are in place), else 503
 *   GET /metrics  Prometheus text exposition of the agent's registry
 * Bodies of /healthz and /readyz are short JSON saying why.
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { parseHostPort } from './config';
import { closeServer, listen, requestURL, sendJSON, sendText } from './http-util';
import { errorFields, type Logger } from './logger';

export interface HealthSource {
  /** Empty when healthy; otherwise what is wrong. */
  healthProblems(): string[];
  ready(): { ready: boolean; synced: boolean };
}

export class HealthServer {
  private readonly server: Server;

  constructor(
    private readonly source: HealthSource,
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {
    this.server = createServer((req, res) => {
      const path = requestURL(req).pathname;
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return sendJSON(res, 405, { error: 'method not allowed' });
      switch (path) {
        case '/healthz': {
          const problems = this.source.healthProblems();
          return sendJSON(res, problems.length === 0 ? 200 : 503, {
            healthy: problems.length === 0,
            problems,
          });
        }
        case '/readyz': {
          const r = this.source.ready();
          return sendJSON(res, r.ready ? 200 : 503, r);
        }
        case '/metrics':
          this.registry.metrics().then(
            (text) => sendText(res, 200, text, this.registry.contentType),
            (err) => {
              this.log.error('rendering metrics failed', errorFields(err));
              sendText(res, 500, 'metrics unavailable\n');
            },
          );
          return;
        default:
          return sendJSON(res, 404, {
            error: `no such path ${path}`,
            paths: ['/healthz', '/readyz', '/metrics'],
          });
      }
    });
  }

  /** Listens on `address` (host:port); returns the bound port (useful with port 0). */
  async start(address: string): Promise<number> {
    const hp = parseHostPort(address);
    if (!hp) throw new Error(`invalid metrics address ${address}`);
    await listen(this.server, hp);
    const bound = this.server.address();
    const port = typeof bound === 'object' && bound ? bound.port : hp.port;
    this.log.info('health and metrics server listening', { address: `${hp.host}:${port}` });
    return port;
  }

  stop(): Promise<void> {
    return closeServer(this.server);
  }
}
