/**
 * NftablesDataplane: the shared SyncEngine over the nftables backend, plus the drift watch — a
 * `nft monitor` (monitor.ts) that reports commits to Palisade's table made by anyone else, as
 * they happen, to whoever asked (the agent's runner then repairs).
 */
import type { DataplaneLogger, DriftWatchStatus, ForeignChange, IPFamily } from '../api';
import { type EngineOptions, SyncEngine } from '../engine';
import type { Binaries, Kernel } from '../kernel';
import { NftablesBackend } from './backend';
import { TableMonitor } from './monitor';
import type { SessionStats } from './session';

export interface NftablesDataplaneOptions {
  readonly kernel: Kernel;
  readonly families: readonly IPFamily[];
  readonly markBit: number;
  readonly binaries: Binaries;
  readonly logger: DataplaneLogger;
  readonly engine: EngineOptions;
}

export class NftablesDataplane extends SyncEngine {
  private readonly nft: NftablesBackend;
  private readonly monitor: TableMonitor;
  private readonly listeners = new Set<(change: ForeignChange) => void>();

  constructor(opts: NftablesDataplaneOptions) {
    const backend = new NftablesBackend({
      kernel: opts.kernel,
      families: opts.families,
      markBit: opts.markBit,
      binaries: opts.binaries,
      logger: opts.logger,
    });
    super(backend, opts.engine);
    this.nft = backend;
    const kernel = opts.kernel;
    this.monitor = new TableMonitor({
      starter: { start: (argv, o) => kernel.start!(argv, o) },
      binary: opts.binaries.nft,
      ownPids: () => backend.session.recentPids(),
      logger: opts.logger,
      onForeignChange: (change) => {
        opts.logger.warn('nftables: a foreign change to the palisade table', {
          pid: change.pid,
          comm: change.comm,
          events: change.events.slice(0, 10),
        });
        for (const l of this.listeners) l(change);
      },
    });
  }

  override watchDrift(listener: (change: ForeignChange) => void): boolean {
    this.listeners.add(listener);
    this.monitor.start();
    return true;
  }

  override driftWatch(): DriftWatchStatus | null {
    return this.listeners.size > 0 ? this.monitor.status : null;
  }

  override async close(): Promise<void> {
    this.monitor.stop();
    this.listeners.clear();
    await super.close();
  }

  /** The session's counters (transactions, children started, recycled, lost). */
  sessionStats(): SessionStats {
    return this.nft.session.stats;
  }
}
