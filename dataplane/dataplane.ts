/**
 * The factory: the SyncEngine with the backend the options name (iptables unless told).
 */
import type { Dataplane, DataplaneLogger, DataplaneOptions } from './api';
import { SyncEngine } from './engine';
import { IptablesBackend } from './iptables/backend';
import { DEFAULT_BINARIES } from './kernel';
import { NftablesDataplane } from './nftables/dataplane';
import { DEFAULT_MARK_BIT, validateMarkBit } from './tiers';

const silentLogger: DataplaneLogger = { debug() {}, info() {}, warn() {}, error() {} };

export function createDataplane(opts: DataplaneOptions): Dataplane {
  const markBit = opts.markBit ?? DEFAULT_MARK_BIT;
  validateMarkBit(markBit);
  const families = opts.families ?? [4, 6];
  const logger = opts.logger ?? silentLogger;
  const binaries = opts.binaries ?? DEFAULT_BINARIES;
  const engine = {
    ...(opts.mode ? { mode: opts.mode } : {}),
    logger,
    ...(opts.gcDelayMs !== undefined ? { gcDelayMs: opts.gcDelayMs } : {}),
  };
  if ((opts.backend ?? 'iptables') === 'nftables') {
    return new NftablesDataplane({ kernel: opts.kernel, families, markBit, binaries, logger, engine });
  }
  return new SyncEngine(
    new IptablesBackend({ kernel: opts.kernel, families, markBit, binaries, logger }),
    engine,
  );
}
