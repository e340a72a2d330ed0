/**
 * SyncRunner: the one place where the desired state goes to the kernel.
 *
 * What it does: watch handlers update the model and call `notify()`; nothing else touches the
 * kernel. The runner coalesces: at most one apply runs at a time, events arriving meanwhile
 * accumulate and go out together in the next apply, and applies start no closer together than
 * `minIntervalMs`. Each apply is compile() (flush the compiler) then dataplane.sync(state, delta).
 *
 * States:
 *   waiting-for-sync ──markSynced()──▶ idle ⇄ scheduled ⇄ running(apply | repair)
 *                                        ▲                       │ apply failed
 *                                        └──── retry timer ◀─────┘ (exponential backoff, capped)
 *
 * Promises:
 *   - Nothing is programmed before markSynced() (every watch has listed once); then one apply
 *     runs even without events (it adopts or fixes whatever the kernel holds).
 *   - A failed apply loses nothing: its events stay pending and the retry syncs the current
 *     desired state (the dataplane diffs fully after a failure). New events never shorten a
 *     backoff; they ride along with the retry.
 *   - Drift repairs, and any caller of `exclusive()`, never run concurrently with an apply.
 *   - Latency: each event's time from receipt (`notify(receivedAt)`) to the end of the successful
 *     apply that covers it is observed in the event-to-enforcement histogram.
 */
import type { CompileDelta, CompiledState } from '../../compiler';
import type { ApplyStats, Dataplane, DriftReport } from '../../dataplane/api';
import { Backoff, type BackoffOptions } from './backoff';
import type { Clock, Timer } from './clock';
import { applyErrorFields } from './apply-error';
import { errorFields, type Logger } from './logger';
import type { AgentMetrics } from './metrics';

export interface RunnerCompiler {
  compile(): { state: CompiledState; delta: CompileDelta };
}

export type RunnerDataplane = Pick<Dataplane, 'sync' | 'repairDrift' | 'counts'>;

export interface RunnerOptions {
  readonly compiler: RunnerCompiler;
  readonly dataplane: RunnerDataplane;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: AgentMetrics;
  /** Floor between the starts of two applies. */
  readonly minIntervalMs: number;
  /** Backoff of apply retries; default 500 ms doubling up to 30 s. */
  readonly retry?: BackoffOptions;
  /** An operation in flight, or due and not started, for longer than this means wedged; default 2 min. */
  readonly wedgeTimeoutMs?: number;
  /** Wall-clock time for status reports (epoch ms); default Date.now. */
  readonly wallClock?: () => number;
  /**
   * Runs after each apply that changed the kernel, before the apply counts as done (the flow
   * cutter: connections the new rules deny are cut in the same apply). `full`: the delta does
   * not say everything that changed (first apply, recovery). Its failure is logged and counted,
   * never fails the apply: the rules are in place either way.
   */
  readonly afterApply?: (state: CompiledState, delta: CompileDelta, full: boolean) => Promise<void>;
}

export interface ApplyRecord {
  /** Epoch ms at the end of the apply. */
  readonly at: number;
  readonly durationMs: number;
  /** Model-changing events the apply covered. */
  readonly events: number;
  readonly full: boolean;
  /** null when the compile produced no change and the kernel was not touched. */
  readonly stats: ApplyStats | null;
}

export interface FailureRecord {
  readonly at: number;
  readonly error: string;
  /** Extra fields of the failure (the dataplane's ApplyError: command, failing line, context). */
  readonly details: Record<string, unknown>;
}

export interface RepairRecord {
  readonly at: number;
  readonly differences: readonly string[];
}

export interface RunnerStatus {
  /** Every watch has listed once. */
  readonly synced: boolean;
  /** At least one apply succeeded. */
  readonly ready: boolean;
  readonly healthy: boolean;
  readonly running: 'apply' | 'repair' | null;
  readonly pendingEvents: number;
  readonly applies: number;
  readonly applyErrors: number;
  readonly consecutiveFailures: number;
  /** ms until the next retry, when the last apply failed. */
  readonly retryInMs: number | null;
  readonly lastApply: ApplyRecord | null;
  readonly lastError: FailureRecord | null;
  /** The last drift check, clean or not. */
  readonly lastRepair: RepairRecord | null;
  /** The last drift check that found and repaired differences. */
  readonly lastRepaired: RepairRecord | null;
  readonly repairs: number;
}

type Operation = 'apply' | 'repair';

/** Nothing for the kernel: the compile changed nothing this node enforces. */
export function deltaIsEmpty(d: CompileDelta): boolean {
  return (
    !d.full &&
    d.pods.size === 0 &&
    d.policies.size === 0 &&
    d.clusterPolicies.size === 0 &&
    d.peerSets.size === 0 &&
    d.members.size === 0 &&
    !d.localPodCIDRs &&
    !d.remotePodAddresses
  );
}

export class SyncRunner {
  private synced = false;
  private stopped = false;
  /** Receipt times of model-changing events not yet covered by a successful apply. */
  private pending: number[] = [];
  private appliedOnce = false;
  /** The last apply failed: the next one is a retry, due at retryAt. */
  private failed = false;
  private retryAt = 0;
  private repairRequested = false;
  private nextAllowedAt = 0;

  private timer: Timer | null = null;
  private timerDueAt = 0;
  private running: Operation | null = null;
  private runningSince = 0;
  private inFlight: Promise<void> | null = null;
  /** Serialises every kernel-touching operation (applies, repairs, exclusive()). */
  private lockTail: Promise<unknown> = Promise.resolve();

  private readonly retryBackoff: Backoff;
  /** The backoff's first delay: how soon a retry comes after the kernel changed under a failure. */
  private readonly retryFirstMs: number;
  private readonly wedgeTimeoutMs: number;
  private readonly wall: () => number;

  private applies = 0;
  private applyErrors = 0;
  private repairs = 0;
  private lastApply: ApplyRecord | null = null;
  private lastError: FailureRecord | null = null;
  private lastRepair: RepairRecord | null = null;
  private lastRepaired: RepairRecord | null = null;
  private readonly readyWaiters: Array<() => void> = [];

  constructor(private readonly opts: RunnerOptions) {
    const retry = opts.retry ?? { initialMs: 500, maxMs: 30_000 };
    this.retryBackoff = new Backoff(retry);
    this.retryFirstMs = retry.initialMs;
    this.wedgeTimeoutMs = opts.wedgeTimeoutMs ?? 120_000;
    this.wall = opts.wallClock ?? Date.now;
  }

  /** A model-changing event was received at `receivedAt` (clock time); schedule an apply. */
  notify(receivedAt: number = this.opts.clock.now()): void {
    if (this.stopped) return;
    this.pending.push(receivedAt);
    this.opts.metrics.pendingEvents.set(this.pending.length);
    this.schedule();
  }

  /** Every cache has synced: programming may start. */
  markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    this.schedule();
  }

  /** Ask for a drift check and repair (the periodic resync); runs when no apply is due. */
  requestRepair(): void {
    if (this.stopped) return;
    this.repairRequested = true;
    this.schedule();
  }

  /**
   * The drift watch saw a change to the kernel that Palisade did not make: check and repair it.
   * While applies are failing, the retry is also brought forward to the backoff's first delay
   * from now, because another process is at work on the kernel and what made them fail may just
   * have changed; waiting out a backoff of up to 30 s would leave the kernel wrong that long.
   * (The kernel announces nothing when it drops a table whose owner exited: that case waits for
   * the retry.) The backoff keeps its count, so a retry that fails again waits longer.
   */
  kernelChanged(): void {
    if (this.stopped) return;
    if (this.failed) this.retryAt = Math.min(this.retryAt, this.opts.clock.now() + this.retryFirstMs);
    this.requestRepair();
  }

  /** Resolves after the first successful apply. */
  whenReady(): Promise<void> {
    if (this.appliedOnce) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Runs `fn` while no apply or repair runs (e.g. reading the kernel back for the debug endpoint). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.lockTail.then(fn);
    this.lockTail = result.catch(() => undefined);
    return result;
  }

  /**
   * Stops scheduling and waits up to `graceMs` for an in-flight operation to end. The kernel is
   * left as it is (rules stay in place for the next agent). Returns false if the operation was
   * abandoned still running.
   */
  async stop(graceMs = 10_000): Promise<boolean> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
    const inFlight = this.inFlight;
    if (!inFlight) return true;
    let graceTimer: Timer | undefined;
    const finished = await Promise.race([
      inFlight.then(() => true),
      new Promise<boolean>(
        (resolve) => (graceTimer = this.opts.clock.setTimer(graceMs, () => resolve(false))),
      ),
    ]);
    graceTimer?.cancel();
    return finished;
  }

  healthy(): boolean {
    const now = this.opts.clock.now();
    if (this.running && now - this.runningSince > this.wedgeTimeoutMs) return false;
    if (this.timer && now - this.timerDueAt > this.wedgeTimeoutMs) return false;
    return true;
  }

  status(): RunnerStatus {
    const now = this.opts.clock.now();
    return {
      synced: this.synced,
      ready: this.appliedOnce,
      healthy: this.healthy(),
      running: this.running,
      pendingEvents: this.pending.length,
      applies: this.applies,
      applyErrors: this.applyErrors,
      consecutiveFailures: this.failed ? this.retryBackoff.attempts : 0,
      retryInMs: this.failed ? Math.max(0, this.retryAt - now) : null,
      lastApply: this.lastApply,
      lastError: this.lastError,
      lastRepair: this.lastRepair,
      lastRepaired: this.lastRepaired,
      repairs: this.repairs,
    };
  }

  private applyDue(): boolean {
    return this.pending.length > 0 || this.failed || !this.appliedOnce;
  }

  private schedule(): void {
    if (this.stopped || !this.synced || this.running) return;
    const now = this.opts.clock.now();
    let dueAt: number;
    if (this.applyDue()) {
      dueAt = Math.max(now, this.nextAllowedAt, this.failed ? this.retryAt : 0);
    } else if (this.repairRequested) {
      dueAt = now;
    } else {
      return;
    }
    if (this.timer) {
      if (this.timerDueAt <= dueAt) return;
      this.timer.cancel();
    }
    this.timerDueAt = dueAt;
    this.timer = this.opts.clock.setTimer(dueAt - now, () => {
      this.timer = null;
      this.run();
    });
  }

  private run(): void {
    if (this.stopped || this.running) return;
    const op: Operation | null = this.applyDue() ? 'apply' : this.repairRequested ? 'repair' : null;
    if (!op) return;
    this.running = op;
    this.runningSince = this.opts.clock.now();
    const work = this.exclusive(() => (op === 'apply' ? this.apply() : this.repair()));
    const inFlight = work
      .catch((err) => {
        this.opts.log.error('runner operation failed unexpectedly', { op, ...errorFields(err) });
      })
      .then(() => {
        this.running = null;
        this.inFlight = null;
        this.schedule();
      });
    this.inFlight = inFlight;
  }

  private async apply(): Promise<void> {
    const { clock, metrics, log } = this.opts;
    const batch = this.pending;
    this.pending = [];
    const start = clock.now();
    this.nextAllowedAt = start + this.opts.minIntervalMs;
    let full = false;
    try {
      const { state, delta } = this.opts.compiler.compile();
      full = delta.full;
      let stats: ApplyStats | null = null;
      if (this.failed || !this.appliedOnce || !deltaIsEmpty(delta)) {
        stats = await this.opts.dataplane.sync(state, delta);
        await this.runAfterApply(state, delta, this.failed || !this.appliedOnce);
      }
      const end = clock.now();
      this.succeeded(batch, start, end, full || this.failed, stats);
    } catch (err) {
      const end = clock.now();
      this.pending = batch.concat(this.pending);
      metrics.pendingEvents.set(this.pending.length);
      this.failed = true;
      const delay = this.retryBackoff.next();
      this.retryAt = end + delay;
      this.applies++;
      this.applyErrors++;
      metrics.applies.inc({ result: 'error' });
      metrics.applyErrors.inc();
      metrics.applyDuration.observe({ result: 'error' }, (end - start) / 1000);
      const details = applyErrorFields(err);
      this.lastError = { at: this.wall(), error: errorFields(err).error, details };
      log.error('apply failed; desired state kept, will retry', {
        ...errorFields(err),
        ...details,
        events: batch.length,
        durationMs: round(end - start),
        retryInMs: delay,
        consecutiveFailures: this.retryBackoff.attempts,
      });
    }
  }

  private async runAfterApply(state: CompiledState, delta: CompileDelta, full: boolean): Promise<void> {
    if (!this.opts.afterApply) return;
    try {
      await this.opts.afterApply(state, delta, full);
    } catch (err) {
      this.opts.metrics.afterApplyErrors.inc();
      this.opts.log.warn(
        'after-apply step failed; the rules are applied, it runs again with the next apply',
        {
          ...errorFields(err),
        },
      );
    }
  }

  private succeeded(
    batch: number[],
    start: number,
    end: number,
    full: boolean,
    stats: ApplyStats | null,
  ): void {
    const { metrics, log } = this.opts;
    const wasFailing = this.failed;
    this.failed = false;
    this.retryBackoff.reset();
    this.applies++;
    for (const receivedAt of batch) metrics.eventToEnforcement.observe(Math.max(0, end - receivedAt) / 1000);
    metrics.pendingEvents.set(this.pending.length);
    metrics.applies.inc({ result: 'success' });
    metrics.applyDuration.observe({ result: 'success' }, (end - start) / 1000);
    metrics.applyEvents.observe(batch.length);
    metrics.lastApplySuccess.set(this.wall() / 1000);
    if (stats) {
      metrics.applyRestoreBytes.observe(stats.restoreBytes);
      metrics.setKernelCounts(this.opts.dataplane.counts());
    }
    this.lastApply = { at: this.wall(), durationMs: round(end - start), events: batch.length, full, stats };
    // A compile that changed nothing (an event that concerns no subject) is routine: debug only.
    log.log(stats ? 'info' : 'debug', stats ? 'applied' : 'apply skipped: no change', {
      events: batch.length,
      durationMs: round(end - start),
      full,
      ...(stats ?? {}),
      ...(wasFailing ? { recovered: true } : {}),
    });
    if (!this.appliedOnce) {
      this.appliedOnce = true;
      for (const resolve of this.readyWaiters.splice(0)) resolve();
    }
  }

  private async repair(): Promise<void> {
    const { metrics, log } = this.opts;
    this.repairRequested = false;
    let report: DriftReport;
    try {
      report = await this.opts.dataplane.repairDrift();
    } catch (err) {
      metrics.driftChecks.inc({ result: 'error' });
      // The kernel may be half repaired: a full sync (the dataplane's behaviour after a failure) settles it.
      this.failed = true;
      this.retryAt = this.opts.clock.now() + this.retryBackoff.next();
      log.error('drift repair failed; a full sync will follow', {
        ...errorFields(err),
        ...applyErrorFields(err),
      });
      return;
    }
    const differences = report.differences;
    this.lastRepair = { at: this.wall(), differences };
    if (differences.length === 0) {
      metrics.driftChecks.inc({ result: 'clean' });
      log.debug('drift check: kernel matches desired state');
      return;
    }
    this.repairs++;
    this.lastRepaired = this.lastRepair;
    metrics.driftChecks.inc({ result: 'repaired' });
    metrics.driftRepairs.inc();
    metrics.driftDifferences.inc(differences.length);
    metrics.setKernelCounts(this.opts.dataplane.counts());
    log.warn('drift repaired', { differences: differences.length, sample: differences.slice(0, 20) });
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
