/**
 * NftablesDataplane: the shared SyncEngine over the nftables backend.
 */
import type { DataplaneLogger, IPFamily } from '../api';
import { type EngineOptions, SyncEngine } from '../engine';
import type { Binaries, Kernel } from '../kernel';
import { NftablesBackend } from './backend';

export interface NftablesDataplaneOptions {
  readonly kernel: Kernel;
  readonly families: readonly IPFamily[];
  readonly markBit: number;
  readonly binaries: Binaries;
  readonly logger: DataplaneLogger;
  readonly engine: EngineOptions;
}

export class NftablesDataplane extends SyncEngine {
  constructor(opts: NftablesDataplaneOptions) {
    super(
      new NftablesBackend({
        kernel: opts.kernel,
        families: opts.families,
        markBit: opts.markBit,
        binaries: opts.binaries,
        logger: opts.logger,
      }),
      opts.engine,
    );
  }
}
