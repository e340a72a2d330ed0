/**
 * Sustained churn through the agent's own coalescing runner (agent/daemon/runner.ts SyncRunner,
 * used as is: real clock, silent logs, its own metrics registry).
 *
 * How latency is measured: event i is due at start + i/rate. Its receipt time is that due time,
 * not the moment the harness got round to injecting it, so time the event loop spent busy
 * (compiling, diffing) counts against the agent, as a watch event waiting in the socket would.
 * The runner's compile() is wrapped: the events applied to the model before a compile are the
 * ones that apply covers (the runner takes its batch at the same instant), and they are enforced
 * when the sync that follows succeeds (or at once, when the compile produced no change and the
 * runner skips the kernel). A failed sync puts its batch back, as the runner does.
 *
 * Promise: `lost` counts model-changing events never covered by a successful apply; it must be 0.
 * That every event's effect reached the kernel is checked separately (kernel vs from-scratch).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { CompileDelta, CompiledState } from '../compiler';
import type { ApplyStats, Dataplane } from '../dataplane/api';
import type { Compilation } from '../agent/daemon/compilation';
import { systemClock } from '../agent/daemon/clock';
import { silentLogger } from '../agent/daemon/logger';
import { AgentMetrics } from '../agent/daemon/metrics';
import { SyncRunner } from '../agent/daemon/runner';
import { type ChurnKind, type ChurnStream, applyEvent } from './events';
import { nowMs, quantile, round } from './stats';

export interface ChurnResult {
  readonly eventsPerSecond: number;
  readonly seconds: number;
  readonly latencyMsP50: number;
  readonly latencyMsP99: number;
  readonly latencyMsMax: number;
  /** Events produced by the stream. */
  readonly events: number;
  /** Of those, updates that changed nothing the model keeps (dropped, as the reflector does). */
  readonly unchangedDropped: number;
  /** Model-changing events covered by a successful apply. */
  readonly enforced: number;
  /** Model-changing events never covered: must be 0. */
  readonly lost: number;
  readonly applies: number;
  readonly applyErrors: number;
  readonly eventsPerApplyMax: number;
  readonly eventsPerApplyMean: number;
  /** Median and p99 of one apply (compile + sync), ms. */
  readonly applyMsP50: number;
  readonly applyMsP99: number;
  readonly restoreBytesTotal: number;
  /** Time from the last event's due time until it was enforced, ms. */
  readonly drainMs: number;
  readonly mix: Readonly<Record<ChurnKind, number>>;
  /** Event-loop delay during the phase (perf_hooks), ms: time the agent's thread was busy. */
  readonly eventLoopDelayMsP99: number;
  readonly eventLoopDelayMsMax: number;
  /** The slowest applies of the phase, with what they did: where the tail latency comes from. */
  readonly slowestApplies: readonly ApplyRecord[];
}

export interface ApplyRecord {
  /** compile() called to sync() returned, ms. */
  readonly ms: number;
  readonly events: number;
  readonly compileMs: number;
  readonly diffMs: number;
  readonly kernelMs: number;
  readonly spawns: number;
  readonly ipsetLines: number;
  readonly iptablesLines: number;
  readonly restoreBytes: number;
}

const DRAIN_TIMEOUT_MS = 120_000;

function deltaIsEmpty(d: CompileDelta): boolean {
  return (
    !d.full && d.pods.size === 0 && d.policies.size === 0 && d.peerSets.size === 0 && d.members.size === 0
  );
}

/**
 * The runner and the bookkeeping around it. Built once per run (its first apply is the cold
 * start) and reused for every churn phase.
 */
export class RunnerHarness {
  readonly runner: SyncRunner;
  private pending: number[] = [];
  private inFlight: number[] = [];
  private latencies: number[] = [];
  private applyTimes: number[] = [];
  private records: ApplyRecord[] = [];
  private lastStats: ApplyStats | null = null;
  private batchSizes: number[] = [];
  private bytes = 0;
  private errors = 0;
  private applyStart = 0;
  private waiters: Array<() => void> = [];
  /** Stats of every sync, in order (the first one is the cold start). */
  readonly syncs: ApplyStats[] = [];
  compileMs = 0;

  constructor(
    private readonly compilation: Compilation,
    private readonly dataplane: Dataplane,
  ) {
    this.runner = new SyncRunner({
      compiler: { compile: () => this.compile() },
      dataplane: {
        sync: (state, delta) => this.sync(state, delta),
        repairDrift: () => dataplane.repairDrift(),
        counts: () => dataplane.counts(),
      },
      clock: systemClock,
      log: silentLogger(),
      metrics: new AgentMetrics({ processMetrics: false }),
      minIntervalMs: 0,
    });
  }

  private compile(): { state: CompiledState; delta: CompileDelta } {
    this.applyStart = nowMs();
    const status = this.runner.status();
    this.inFlight = this.pending;
    this.pending = [];
    this.lastStats = null;
    const t = nowMs();
    const out = this.compilation.compile();
    this.compileMs = nowMs() - t;
    const willSync = !status.ready || status.retryInMs !== null || !deltaIsEmpty(out.delta);
    if (!willSync) this.enforced(nowMs());
    return out;
  }

  private async sync(state: CompiledState, delta: CompileDelta): Promise<ApplyStats> {
    try {
      const stats = await this.dataplane.sync(state, delta);
      this.syncs.push(stats);
      this.lastStats = stats;
      this.bytes += stats.restoreBytes;
      this.enforced(nowMs());
      return stats;
    } catch (e) {
      this.errors++;
      this.pending = this.inFlight.concat(this.pending);
      this.inFlight = [];
      throw e;
    }
  }

  private enforced(at: number): void {
    for (const due of this.inFlight) this.latencies.push(at - due);
    this.batchSizes.push(this.inFlight.length);
    this.applyTimes.push(at - this.applyStart);
    const st = this.lastStats;
    this.records.push({
      ms: round(at - this.applyStart, 2),
      events: this.inFlight.length,
      compileMs: round(this.compileMs, 2),
      diffMs: round(st?.diffMs ?? 0, 2),
      kernelMs: round(st?.applyMs ?? 0, 2),
      spawns: st?.spawns ?? 0,
      ipsetLines: st?.ipsetLines ?? 0,
      iptablesLines: st?.iptablesLines ?? 0,
      restoreBytes: st?.restoreBytes ?? 0,
    });
    this.inFlight = [];
    if (this.pending.length === 0) for (const w of this.waiters.splice(0)) w();
  }

  /** Cold start: caches are synced, the runner programs the kernel once. Returns ms. */
  async coldStart(): Promise<number> {
    const t = nowMs();
    this.runner.markSynced();
    // The runner retries a failed apply forever (as an agent must); the bench reports it instead.
    let poll: NodeJS.Timeout | undefined;
    const failed = new Promise<never>((_, reject) => {
      poll = setInterval(() => {
        const err = this.runner.status().lastError;
        if (err) reject(new Error(`cold start apply failed: ${err.error}`));
      }, 50);
    });
    try {
      await Promise.race([this.runner.whenReady(), failed]);
    } finally {
      clearInterval(poll);
    }
    const ms = nowMs() - t;
    this.reset();
    return ms;
  }

  private reset(): void {
    this.latencies = [];
    this.applyTimes = [];
    this.records = [];
    this.batchSizes = [];
    this.bytes = 0;
    this.errors = 0;
  }

  /** A model-changing event, due at `due`, has been applied to the model. */
  received(due: number): void {
    this.pending.push(due);
    this.runner.notify(due);
  }

  /** Resolves when every received event is enforced. */
  drained(): Promise<void> {
    if (this.pending.length === 0 && this.inFlight.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Runs `seconds` of churn at `rate` events per second from `stream`. */
  async churn(stream: ChurnStream, rate: number, seconds: number): Promise<ChurnResult> {
    this.reset();
    const total = Math.round(rate * seconds);
    const interval = 1000 / rate;
    const before = stream.produced();
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const start = nowMs() + 10;
    let produced = 0;
    let dropped = 0;
    let lastDue = start;
    while (produced < total) {
      const now = nowMs();
      while (produced < total && start + produced * interval <= now) {
        const due = start + produced * interval;
        const e = stream.next();
        produced++;
        lastDue = due;
        if (e.type === 'upsertPod' && e.unchanged) {
          dropped++;
          continue;
        }
        applyEvent(this.compilation, e);
        this.received(due);
      }
      if (produced < total) {
        const wait = start + produced * interval - nowMs();
        await new Promise((r) => setTimeout(r, Math.max(0, wait)));
      }
    }
    // An event still unenforced this long after the churn ended counts as lost.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.drained(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    const drainMs = nowMs() - lastDue;
    loop.disable();
    const after = stream.produced();
    const mix = Object.fromEntries(
      (Object.keys(after) as ChurnKind[]).map((k) => [k, after[k] - before[k]]),
    ) as Record<ChurnKind, number>;
    const enforced = this.latencies.length;
    const batches = this.batchSizes.filter((n) => n > 0);
    return {
      eventsPerSecond: rate,
      seconds,
      latencyMsP50: round(quantile(this.latencies, 0.5), 2),
      latencyMsP99: round(quantile(this.latencies, 0.99), 2),
      latencyMsMax: round(
        this.latencies.reduce((a, b) => Math.max(a, b), 0),
        2,
      ),
      events: produced,
      unchangedDropped: dropped,
      enforced,
      lost: produced - dropped - enforced,
      applies: this.applyTimes.length,
      applyErrors: this.errors,
      eventsPerApplyMax: batches.reduce((a, b) => Math.max(a, b), 0),
      eventsPerApplyMean: round(batches.reduce((a, b) => a + b, 0) / Math.max(1, batches.length), 2),
      applyMsP50: round(quantile(this.applyTimes, 0.5), 2),
      applyMsP99: round(quantile(this.applyTimes, 0.99), 2),
      restoreBytesTotal: this.bytes,
      drainMs: round(drainMs, 2),
      mix,
      eventLoopDelayMsP99: round(loop.percentile(99) / 1e6, 2),
      eventLoopDelayMsMax: round(loop.max / 1e6, 2),
      slowestApplies: [...this.records].sort((a, b) => b.ms - a.ms).slice(0, 5),
    };
  }

  async stop(): Promise<void> {
    await this.runner.stop();
  }
}
