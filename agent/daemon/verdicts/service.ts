/**
 * VerdictLog: the agent's verdict logs, from the NFLOG group to watchers and metrics.
 *
 *   dataplane.sync ◀── tracking(): the log point table is updated first (log-point-table.ts)
 *   NflogCapture (tcpdump child) ──message──▶ interpret (event.ts) ──▶ VerdictRing ──▶ WatchStreams
 *                                                                   └──▶ palisade_verdicts_total
 *   losses: rate_limit (the kernel's bucket: its counters, read every few seconds, rate-limit.ts),
 *   queue_overflow (tcpdump's socket), slow_reader (a watcher overwritten in the ring)
 *   ──▶ palisade_verdict_events_lost_total{reason}
 *
 * Never fatal: without tcpdump the agent enforces as before and its status says why there are no
 * verdict logs.
 */
import type { CompileDelta, CompiledState, ObjectKey } from '../../../compiler';
import type { ApplyStats, LogCounterSample } from '../../../dataplane/api';
import { DEFAULT_VERDICT_LOG } from '../../../dataplane/verdict-log';
import type { Clock, Timer } from '../clock';
import { errorFields } from '../logger';
import type { Logger } from '../logger';
import type { AgentMetrics } from '../metrics';
import type { RunnerDataplane } from '../runner';
import { NflogCapture, type CaptureStarter, type CapturedMessage, type CaptureStatus } from './capture';
import { interpret, type VerdictEvent } from './event';
import type { WatchFilter } from './filter';
import { LogPointTable } from './log-point-table';
import { RateLimitTracker } from './rate-limit';
import { VerdictRing } from './ring';
import { WatchStream, type LineSink } from './watch';

export type LossReason = 'rate_limit' | 'queue_overflow' | 'slow_reader';

export interface VerdictLogSettings {
  readonly nodeName: string;
  readonly group: number;
  /** The kernel logs the first packet of allowed connections too. */
  readonly allowed: boolean;
  /** Events the ring holds. */
  readonly bufferSize: number;
}

export interface VerdictLogDeps {
  readonly clock: Clock;
  /** Epoch ms (for `since`); default Date.now. */
  readonly wallClock?: () => number;
  readonly log: Logger;
  readonly metrics: AgentMetrics;
  /** The pod that holds an address, from the agent's model. */
  readonly podOf: (ip: string) => ObjectKey | undefined;
  readonly start?: CaptureStarter;
  readonly tcpdump?: string;
  readonly retentionMs?: number;
}

export const DEFAULT_BUFFER_SIZE = 4096;
/** How often the kernel's rate-limit counters are read: a losses figure a few seconds old is fresh enough. */
export const DEFAULT_COUNTER_PERIOD_MS = 5_000;

export class VerdictLog {
  readonly table: LogPointTable;
  readonly ring: VerdictRing;
  private readonly capture: NflogCapture;
  private readonly watchers = new Set<WatchStream>();
  private readonly lost: Record<LossReason, number> = { rate_limit: 0, queue_overflow: 0, slow_reader: 0 };
  private foreign = 0;
  private malformed = 0;
  private unknownPoints = 0;
  private readonly rateLimit = new RateLimitTracker();
  private counterReads = { reads: 0, failures: 0, lastAt: null as string | null };
  private counterTimer: Timer | undefined;
  private stopped = false;

  constructor(
    readonly settings: VerdictLogSettings,
    private readonly deps: VerdictLogDeps,
  ) {
    this.table = new LogPointTable({ allowed: settings.allowed }, deps.clock, deps.retentionMs);
    this.ring = new VerdictRing(settings.bufferSize);
    this.capture = new NflogCapture({
      group: settings.group,
      clock: deps.clock,
      log: deps.log,
      sink: (m) => this.ingest(m),
      onQueueDrops: (n) => this.countLost('queue_overflow', n),
      ...(deps.start ? { start: deps.start } : {}),
      ...(deps.tcpdump ? { tcpdump: deps.tcpdump } : {}),
    });
    for (const reason of Object.keys(this.lost) as LossReason[])
      deps.metrics.verdictEventsLost.inc({ reason }, 0);
  }

  start(): void {
    this.capture.start();
  }

  /**
   * Reads the kernel's rate-limit counters now and every `periodMs`, counting what they say was
   * lost (rate-limit.ts). Call it once the rules are in the kernel: the first reading is the
   * baseline, and counters created after it are counted from zero.
   */
  countRateLimit(
    read: () => Promise<readonly LogCounterSample[]>,
    periodMs: number = DEFAULT_COUNTER_PERIOD_MS,
  ): void {
    if (this.stopped || this.counterTimer) return;
    const tick = async (): Promise<void> => {
      try {
        this.countLost('rate_limit', this.rateLimit.observe(await read()));
        this.counterReads.reads++;
        this.counterReads.lastAt = new Date(this.wallNow()).toISOString();
      } catch (e) {
        this.counterReads.failures++;
        this.deps.log.debug('verdict log: rate-limit counters not read', errorFields(e));
      }
      if (!this.stopped) this.counterTimer = this.deps.clock.setTimer(periodMs, () => void tick());
    };
    this.counterTimer = this.deps.clock.setTimer(0, () => void tick());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.counterTimer?.cancel();
    for (const w of this.watchers) w.close();
    this.watchers.clear();
    await this.capture.stop();
  }

  /**
   * The dataplane as the runner sees it, with the log point table updated from each delta before
   * the rules are written: a record from a new rule may arrive before the write returns.
   */
  tracking<D extends RunnerDataplane>(dataplane: D): RunnerDataplane {
    return {
      sync: (state: CompiledState, delta: CompileDelta): Promise<ApplyStats> => {
        this.table.update(state, delta);
        return dataplane.sync(state, delta);
      },
      repairDrift: () => dataplane.repairDrift(),
      counts: () => dataplane.counts(),
    };
  }

  /** One NFLOG message from the capture. */
  ingest(m: CapturedMessage): VerdictEvent | undefined {
    const r = interpret(m, this.table, this.deps.podOf, this.settings.nodeName);
    if (r.kind === 'foreign') {
      this.foreign++;
      return undefined;
    }
    if (r.kind === 'malformed') {
      this.malformed++;
      return undefined;
    }
    if (!r.event.known) this.unknownPoints++;
    const e = this.ring.push(r.event);
    this.deps.metrics.verdicts.inc(verdictLabels(e));
    return e;
  }

  /** Events lost for `reason`: counted in the status and in palisade_verdict_events_lost_total. */
  countLost(reason: LossReason, n: number): void {
    if (n <= 0) return;
    this.lost[reason] += n;
    this.deps.metrics.verdictEventsLost.inc({ reason }, n);
  }

  /** Starts streaming to `sink`; the stream ends when the sink's owner closes it (or, not following, by itself). */
  watch(sink: LineSink, filter: WatchFilter, follow: boolean): WatchStream {
    let ended = false;
    let stream: WatchStream | undefined = undefined;
    stream = new WatchStream(
      this.ring,
      {
        write: (l) => sink.write(l),
        onDrain: (l) => sink.onDrain(l),
        end: () => {
          ended = true;
          if (stream) this.watchers.delete(stream);
          sink.end();
        },
      },
      {
        filter,
        follow,
        replay: filter.sinceMs !== undefined || !follow,
        onLost: (n) => this.countLost('slow_reader', n),
      },
      { node: this.settings.nodeName, capture: this.capture.status() },
    );
    if (!ended) this.watchers.add(stream);
    return stream;
  }

  status(): Record<string, unknown> {
    const capture: CaptureStatus = this.capture.status();
    return {
      group: this.settings.group,
      allowedConnections: this.settings.allowed,
      capture,
      events: this.ring.nextSeq - 1,
      buffered: this.ring.size,
      bufferSize: this.ring.capacity,
      watchers: this.watchers.size,
      logPoints: this.table.counts(),
      unknownLogPoints: this.unknownPoints,
      foreignRecords: this.foreign,
      malformedRecords: this.malformed + capture.malformed,
      lost: { ...this.lost },
      // What the kernel's counters beside the bucket said since this agent began reading them.
      rateLimit: { ...this.rateLimit.totals(), ...this.counterReads },
    };
  }

  private wallNow(): number {
    return (this.deps.wallClock ?? Date.now)();
  }
}

/** The labels of palisade_verdicts_total: per policy, never per pod. */
export function verdictLabels(e: VerdictEvent): {
  direction: string;
  verdict: string;
  policy_namespace: string;
  policy: string;
  tier: string;
} {
  let ns = '';
  let policy = '';
  if (e.policy?.kind === 'NetworkPolicy') {
    const slash = e.policy.key.indexOf('/');
    ns = e.policy.key.slice(0, slash);
    policy = e.policy.key.slice(slash + 1);
  } else if (e.policy) {
    policy = e.policy.key;
  } else if (e.policies && e.policies.length > 0) {
    // The NetworkPolicy tier's drop: every isolating policy is in the pod's namespace.
    ns = e.policies[0].slice(0, e.policies[0].indexOf('/'));
    policy = e.policies.map((k) => k.slice(k.indexOf('/') + 1)).join(',');
  }
  return { direction: e.direction, verdict: e.verdict, policy_namespace: ns, policy, tier: e.tier };
}

export const DEFAULT_GROUP = DEFAULT_VERDICT_LOG.group;
