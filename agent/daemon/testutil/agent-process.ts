/**
 * The built agent (`node dist/agent/cli/main.js agent ...`) as a real process inside a node
 * namespace, with its log in a file, and clients for its debug socket and /metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { eventually } from '../../kube/testutil/eventually';
import { get } from './http-client';
import type { NodeSandbox } from './node-sandbox';

export const AGENT_MAIN = resolve(__dirname, '../../../dist/agent/cli/main.js');
export const METRICS_PORT = 9101;

export interface AgentProcessOptions {
  readonly sandbox: NodeSandbox;
  readonly kubeconfig: string;
  /** Directory for the socket and the log. */
  readonly dir: string;
  readonly nodeName?: string;
  readonly resyncInterval?: string;
  readonly syncMode?: 'incremental' | 'full';
  /** Dataplane backend; default the agent's (iptables). */
  readonly backend?: 'iptables' | 'nftables';
  /** Prepended to PATH (stub binaries). */
  readonly pathPrefix?: string;
  readonly logLevel?: string;
}

export interface RunnerStatusDoc {
  ready: boolean;
  running: string | null;
  pendingEvents: number;
  applies: number;
  applyErrors: number;
  consecutiveFailures: number;
  repairs: number;
  lastApply: { at: number; events: number } | null;
  lastError: { error: string; details: Record<string, unknown> } | null;
}

export interface StatusDoc {
  synced: boolean;
  ready: boolean;
  healthy: boolean;
  runner: RunnerStatusDoc;
  watches: Array<{ resource: string; state: string; restarts: number; objects: number }>;
}

export class AgentProcess {
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly socket: string;
  readonly logFile: string;

  private constructor(
    private readonly child: ChildProcess,
    readonly opts: AgentProcessOptions,
    socket: string,
    logFile: string,
  ) {
    this.socket = socket;
    this.logFile = logFile;
    this.exited = new Promise((resolveExit) =>
      child.on('exit', (code, signal) => resolveExit({ code, signal })),
    );
  }

  static start(opts: AgentProcessOptions): AgentProcess {
    if (!existsSync(AGENT_MAIN)) throw new Error(`${AGENT_MAIN} is missing: run \`npm run build\` first`);
    const socket = join(opts.dir, 'palisade.sock');
    const logFile = join(opts.dir, 'agent.log');
    const log = openSync(logFile, 'a');
    const argv = [
      'netns',
      'exec',
      opts.sandbox.node,
      process.execPath,
      AGENT_MAIN,
      'agent',
      '--node-name',
      opts.nodeName ?? 'node-a',
      '--kubeconfig',
      opts.kubeconfig,
      '--metrics-address',
      `0.0.0.0:${METRICS_PORT}`,
      '--debug-socket',
      socket,
      '--resync-interval',
      opts.resyncInterval ?? '5m',
      '--sync-mode',
      opts.syncMode ?? 'incremental',
      '--log-level',
      opts.logLevel ?? 'info',
      ...(opts.backend ? ['--backend', opts.backend] : []),
    ];
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' };
    if (opts.pathPrefix) env.PATH = `${opts.pathPrefix}:${process.env.PATH ?? ''}`;
    const child = spawn('ip', argv, { stdio: ['ignore', log, log], env });
    closeSync(log);
    return new AgentProcess(child, opts, socket, logFile);
  }

  get pid(): number {
    return this.child.pid!;
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  /** Log lines parsed as JSON (the agent logs one object per line). */
  logEntries(): Array<Record<string, unknown>> {
    return this.log()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  async debug<T = unknown>(path: string): Promise<T> {
    const r = await get({ socketPath: this.socket }, path);
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.body}`);
    return r.json<T>();
  }

  status(): Promise<StatusDoc> {
    return this.debug<StatusDoc>('/v1/status');
  }

  async metrics(): Promise<string> {
    const r = await get({ host: this.opts.sandbox.nodeIP, port: METRICS_PORT }, '/metrics');
    if (r.status !== 200) throw new Error(`/metrics: ${r.status}`);
    return r.body;
  }

  async httpStatus(path: string): Promise<number> {
    return (await get({ host: this.opts.sandbox.nodeIP, port: METRICS_PORT }, path)).status;
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    await eventually(
      async () => (await this.httpStatus('/readyz')) === 200,
      'the agent to become ready',
      timeoutMs,
      50,
    );
  }

  /** Every received change applied, nothing in flight, no failure pending. */
  async waitSettled(timeoutMs = 30_000): Promise<StatusDoc> {
    return eventually(
      async () => {
        const s = await this.status();
        const r = s.runner;
        return r.ready && r.pendingEvents === 0 && r.running === null && r.consecutiveFailures === 0
          ? s
          : undefined;
      },
      'the agent to settle',
      timeoutMs,
      10,
    );
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Sends `signal` and waits for the process to end. */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill(signal);
    return this.exited;
  }

  get exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exited;
  }
}

/** Value of an unlabelled sample, or of the sample with exactly these labels. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean).sort().join(',');
    if (have === want) return Number(m[3]);
  }
  return 0;
}

/** Sum of a counter over every label combination. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) sum += Number(m[2]);
  }
  return sum;
}

/** Cumulative buckets [upper bound, count] of a histogram, sorted by bound. */
export type Buckets = Array<[number, number]>;

export function histogramBuckets(text: string, name: string): Buckets {
  const buckets: Buckets = [];
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}_bucket\\{(?:[^}]*,)?le="([^"]+)"[^}]*\\} (\\S+)$`).exec(line);
    if (m) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  }
  return buckets.sort((a, b) => a[0] - b[0]);
}

/** What was observed between two scrapes: `after` minus `before`, bucket by bucket. */
export function bucketsSince(after: Buckets, before: Buckets): Buckets {
  return after.map(([le, n]) => [le, n - (before.find(([b]) => b === le)?.[1] ?? 0)]);
}

/**
 * The q-quantile of cumulative buckets, as Prometheus' histogram_quantile() computes it: find
 * the bucket holding rank q·count and interpolate linearly inside it.
 */
export function quantile(buckets: Buckets, q: number): number {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of buckets) {
    if (count >= rank) {
      if (bound === Infinity) return prevBound;
      return prevBound + ((bound - prevBound) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}
