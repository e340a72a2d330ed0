/**
 * The client side of a running agent's debug endpoint (agent/daemon/debug-server.ts): HTTP GET,
 * JSON bodies, over the agent's unix socket (the default) or a TCP address (a relay such as
 * `socat` or a port-forward in front of the socket).
 *
 * Every failure becomes one CliError line that says which address was tried and how to point
 * the command elsewhere; an error the agent reports (400/404) is bad input (exit status 2).
 */
import { request } from 'node:http';
import { Option } from 'commander';
import { CliError, EXIT_FAILURE, InputError } from '../errors';
import type { DataplaneView } from './documents';

export const DEFAULT_AGENT_SOCKET = '/run/palisade/palisade.sock';
export const AGENT_ENV = 'PALISADE_AGENT';
/** Kernel reads (drift, actual) wait for an apply in flight; a wedged agent must not hang a command. */
export const DEFAULT_TIMEOUT_MS = 30_000;

export type AgentAddress =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

/**
 * "HOST:PORT" or "[IPv6]:PORT" is TCP; anything else is a socket path ("palisade.sock",
 * "/run/palisade/palisade.sock", "./x:1" — a path with a slash is always a path).
 */
export function parseAgentAddress(text: string): AgentAddress {
  const t = text.trim();
  if (t === '') throw new InputError('--agent: empty address (a socket path or HOST:PORT)');
  if (!t.includes('/')) {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(t);
    if (m) {
      const port = Number(m[3]);
      if (port < 1 || port > 65535) throw new InputError(`--agent: port ${port} is out of range 1-65535`);
      return { kind: 'tcp', host: m[1] ?? m[2], port };
    }
  }
  return { kind: 'unix', path: t };
}

export function describeAddress(a: AgentAddress): string {
  return a.kind === 'unix'
    ? `socket ${a.path}`
    : `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/** The `--agent` option every live command takes; PALISADE_AGENT sets it from the environment. */
export function agentOption(): Option {
  return new Option('-a, --agent <address>', `the agent's debug endpoint: a unix socket path or HOST:PORT`)
    .env(AGENT_ENV)
    .default(DEFAULT_AGENT_SOCKET);
}

const HINT = `is the agent running on this node? Point elsewhere with --agent SOCKET|HOST:PORT (or ${AGENT_ENV}), or use \`kubectl palisade --node NODE ...\``;

function unreachable(a: AgentAddress, err: NodeJS.ErrnoException): CliError {
  const where = describeAddress(a);
  let why: string;
  switch (err.code) {
    case 'ENOENT':
      why = 'no such socket';
      break;
    case 'EACCES':
    case 'EPERM':
      return new CliError(
        `cannot reach the palisade agent at ${where}: permission denied (the socket is root only: run as root, or with sudo)`,
      );
    case 'ECONNREFUSED':
      why = a.kind === 'unix' ? 'nothing listens there (an agent that stopped?)' : 'connection refused';
      break;
    case 'ENOTSOCK':
      why = 'not a socket';
      break;
    case 'ETIMEDOUT':
      return new CliError(
        `the palisade agent at ${where} gave ${err.message}: it may be stuck in an apply (see its log and /healthz)`,
      );
    default:
      why = err.message;
  }
  return new CliError(`cannot reach the palisade agent at ${where}: ${why}; ${HINT}`);
}

export interface AgentClientOptions {
  readonly timeoutMs?: number;
}

export class AgentClient {
  readonly address: AgentAddress;
  private readonly timeoutMs: number;

  constructor(address: string | AgentAddress, opts: AgentClientOptions = {}) {
    this.address = typeof address === 'string' ? parseAgentAddress(address) : address;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** GET `path` with `query`; resolves to the parsed JSON body of a 200 answer. */
  /** The agent's desired dataplane and the kernel's own objects, read side by side. */
  async dataplaneViews(): Promise<{ desired: DataplaneView; actual: DataplaneView }> {
    const [desired, actual] = await Promise.all([
      this.get<DataplaneView>('/v1/dataplane/desired'),
      this.get<DataplaneView>('/v1/dataplane/actual'),
    ]);
    return { desired, actual };
  }

  /**
   * GET a streaming NDJSON endpoint: `onLine` gets each parsed line as it arrives and may return
   * 'stop' to end the stream. Resolves when the stream ends (by the agent or by 'stop'). No
   * timeout once the answer has begun: a quiet stream is a normal one.
   */
  stream(
    path: string,
    query: Record<string, string | undefined>,
    onLine: (doc: Record<string, unknown>) => 'stop' | void,
  ): Promise<void> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, v);
    const target = qs.size > 0 ? `${path}?${qs.toString()}` : path;
    const a = this.address;
    return new Promise<void>((resolve, reject) => {
      const req = request(
        a.kind === 'unix'
          ? { socketPath: a.path, path: target, method: 'GET', headers: { host: 'palisade' } }
          : { host: a.host, port: a.port, path: target, method: 'GET' },
        (res) => {
          req.setTimeout(0);
          const status = res.statusCode ?? 0;
          if (status !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              let said = `HTTP ${status}`;
              try {
                const m = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: unknown }).error;
                if (typeof m === 'string') said = m;
              } catch {
                // not JSON: keep the status
              }
              if (said.startsWith('no such path'))
                return reject(
                  new CliError(
                    `the agent at ${describeAddress(a)} does not serve ${path}: is it older than this CLI?`,
                  ),
                );
              reject(
                status === 400
                  ? new InputError(said)
                  : new CliError(`the agent at ${describeAddress(a)}: ${said}`),
              );
            });
            return;
          }
          let pending = '';
          let stopped = false;
          res.setEncoding('utf8');
          res.on('data', (text: string) => {
            if (stopped) return;
            pending += text;
            let nl: number;
            while (!stopped && (nl = pending.indexOf('\n')) >= 0) {
              const line = pending.slice(0, nl);
              pending = pending.slice(nl + 1);
              if (line.trim() === '') continue;
              let doc: Record<string, unknown>;
              try {
                doc = JSON.parse(line) as Record<string, unknown>;
              } catch {
                stopped = true;
                res.destroy();
                return reject(new CliError(`${describeAddress(a)} sent a line that is not JSON on ${path}`));
              }
              if (onLine(doc) === 'stop') {
                stopped = true;
                res.destroy();
                resolve();
              }
            }
          });
          res.on('end', () => resolve());
          res.on('close', () => resolve());
          res.on('error', (e: NodeJS.ErrnoException) => (stopped ? resolve() : reject(unreachable(a, e))));
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => reject(unreachable(a, e)));
      req.setTimeout(this.timeoutMs, () =>
        req.destroy(
          Object.assign(new Error(`no answer within ${Math.round(this.timeoutMs / 1000)} s`), {
            code: 'ETIMEDOUT',
          }),
        ),
      );
      req.end();
    });
  }

  get<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, v);
    const target = qs.size > 0 ? `${path}?${qs.toString()}` : path;
    const a = this.address;
    return new Promise<T>((resolve, reject) => {
      const req = request(
        a.kind === 'unix'
          ? { socketPath: a.path, path: target, method: 'GET', headers: { host: 'palisade' } }
          : { host: a.host, port: a.port, path: target, method: 'GET' },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => reject(unreachable(a, e)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown;
            try {
              body = JSON.parse(text);
            } catch {
              return reject(
                new CliError(
                  `${describeAddress(a)} answered ${path} with HTTP ${res.statusCode} and no JSON: is it a palisade agent's debug endpoint?`,
                ),
              );
            }
            const status = res.statusCode ?? 0;
            if (status === 200) return resolve(body as T);
            const message = (body as { error?: unknown }).error;
            const said = typeof message === 'string' ? message : `HTTP ${status}`;
            if (status === 400 || status === 404) {
              // 404 on a path means an older agent; on a pod it is the user's input.
              if (said.startsWith('no such path'))
                return reject(
                  new CliError(
                    `the agent at ${describeAddress(a)} does not serve ${path}: is it older than this CLI?`,
                  ),
                );
              return reject(new InputError(said));
            }
            reject(new CliError(`the agent at ${describeAddress(a)} failed ${path}: ${said}`, EXIT_FAILURE));
          });
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => reject(unreachable(a, e)));
      req.setTimeout(this.timeoutMs, () =>
        req.destroy(
          Object.assign(
            new Error(
              `no answer within ${this.timeoutMs >= 1000 ? `${Math.round(this.timeoutMs / 1000)} s` : `${this.timeoutMs} ms`}`,
            ),
            {
              code: 'ETIMEDOUT',
            },
          ),
        ),
      );
      req.end();
    });
  }
}
