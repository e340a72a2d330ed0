/**
 * IptablesDataplane: the shared SyncEngine over the iptables backend, plus a drift watch that
 * notices tampering in about a second instead of at the next periodic check:
 * - rules: an `nft monitor` (../nftables/monitor.ts) reports commits to Palisade's iptables-nft
 *   chains made by any process but the tools Palisade itself ran (iptables-legacy rules are not
 *   in nf_tables: no watch there);
 * - sets: every `setCheckMs` the entry counts of `ipset list -t` are compared with the desired
 *   sets, between applies (see drift-watch.ts).
 * Listeners are told; the agent's runner then runs the full check and repair.
 */
import type { DataplaneLogger, DriftWatchStatus, ForeignChange, IPFamily } from '../api';
import { type EngineOptions, SyncEngine } from '../engine';
import type { Binaries, Kernel } from '../kernel';
import { TableMonitor } from '../nftables/monitor';
import type { VerdictLogOptions } from '../verdict-log';
import { IptablesBackend } from './backend';
import { iptablesEventClass, parseIpsetTerse, setCountDifferences } from './drift-watch';

export interface IptablesDataplaneOptions {
  readonly kernel: Kernel;
  readonly families: readonly IPFamily[];
  readonly markBit: number;
  /** Fail closed for new pods (see RenderOptions). */
  readonly failClosed?: boolean;
  readonly binaries: Binaries;
  readonly logger: DataplaneLogger;
  readonly engine: EngineOptions;
  /** Verdict logs (../verdict-log.ts); undefined = off. */
  readonly verdictLog?: VerdictLogOptions;
  /** Send small ipset batches through a long-lived `ipset -`; default true. */
  readonly ipsetSession?: boolean;
  /** Period of the ipset count check while drift is watched; default 1000 ms. */
  readonly setCheckMs?: number;
}

export class IptablesDataplane extends SyncEngine {
  private readonly kernel: Kernel;
  private readonly binaries: Binaries;
  private readonly monitor: TableMonitor | undefined;
  private readonly setCheckMs: number;
  private readonly listeners = new Set<(change: ForeignChange) => void>();
  private setTimer: NodeJS.Timeout | undefined;
  private checking = false;
  private counters = { foreignChanges: 0, setChecks: 0 };
  private last: (ForeignChange & { at: number }) | null = null;

  constructor(opts: IptablesDataplaneOptions) {
    super(
      new IptablesBackend({
        kernel: opts.kernel,
        families: opts.families,
        markBit: opts.markBit,
        ...(opts.failClosed ? { failClosed: true } : {}),
        ...(opts.verdictLog ? { verdictLog: opts.verdictLog } : {}),
        ...(opts.ipsetSession !== undefined ? { ipsetSession: opts.ipsetSession } : {}),
        binaries: opts.binaries,
        logger: opts.logger,
      }),
      opts.engine,
    );
    this.kernel = opts.kernel;
    this.binaries = opts.binaries;
    this.setCheckMs = opts.setCheckMs ?? 1000;
    const kernel = opts.kernel;
    const legacy = opts.binaries.iptablesRestore[4].includes('legacy');
    this.monitor =
      kernel.start && kernel.recentPids && !legacy
        ? new TableMonitor({
            starter: { start: (argv, o) => kernel.start!(argv, o) },
            binary: opts.binaries.nft,
            ownPids: () => kernel.recentPids!(),
            classify: iptablesEventClass,
            logger: opts.logger,
            onForeignChange: (change) => this.report(change),
          })
        : undefined;
  }

  override watchDrift(listener: (change: ForeignChange) => void): boolean {
    if (!this.kernel.start) return false;
    this.listeners.add(listener);
    this.monitor?.start();
    if (!this.setTimer) {
      this.setTimer = setInterval(() => void this.checkSetCounts(), this.setCheckMs);
      this.setTimer.unref();
    }
    return true;
  }

  override driftWatch(): DriftWatchStatus | null {
    if (this.listeners.size === 0) return null;
    const m = this.monitor?.status;
    return {
      running: m?.running ?? true,
      restarts: m?.restarts ?? 0,
      foreignChanges: this.counters.foreignChanges,
      lastForeignChange: this.last,
    };
  }

  override async close(): Promise<void> {
    this.monitor?.stop();
    if (this.setTimer) clearInterval(this.setTimer);
    this.setTimer = undefined;
    this.listeners.clear();
    await super.close();
  }

  /** One count check, between applies (a set is legitimately off its count during one). */
  private async checkSetCounts(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const differences = await this.serial(async () => {
        const desired = this.desired;
        if (!desired || this.needRebuild) return [];
        const r = await this.kernel.run([this.binaries.ipset, 'list', '-t']);
        if (r.code !== 0) return [];
        return setCountDifferences(desired.tables.sets.values(), parseIpsetTerse(r.stdout));
      });
      this.counters.setChecks++;
      if (differences.length > 0)
        this.report({ generation: 0, pid: 0, comm: 'ipset', events: differences, certain: true });
    } catch (e) {
      this.log.debug('iptables: ipset count check failed', { error: (e as Error).message });
    } finally {
      this.checking = false;
    }
  }

  private report(change: ForeignChange): void {
    this.counters.foreignChanges++;
    this.last = { ...change, at: Date.now() };
    this.log.warn('iptables: a foreign change to palisade rules or sets', {
      pid: change.pid,
      comm: change.comm,
      events: change.events.slice(0, 10),
    });
    for (const l of this.listeners) l(change);
  }
}
