/**
 * The factory: the SyncEngine with the backend the options name (iptables unless told).
 */
import type { Dataplane, DataplaneLogger, DataplaneOptions } from './api';
import { IptablesDataplane } from './iptables/dataplane';
import { DEFAULT_BINARIES } from './kernel';
import { NftablesDataplane } from './nftables/dataplane';
import { DEFAULT_MARK_BIT, validateMarkBit } from './tiers';
import { validateVerdictLogOptions } from './verdict-log';

const silentLogger: DataplaneLogger = { debug() {}, info() {}, warn() {}, error() {} };

export function createDataplane(opts: DataplaneOptions): Dataplane {
  const markBit = opts.markBit ?? DEFAULT_MARK_BIT;
  validateMarkBit(markBit);
  const problems = opts.verdictLog ? validateVerdictLogOptions(opts.verdictLog) : [];
  if (problems.length > 0) throw new Error(`verdict log options: ${problems.join('; ')}`);
  const verdictLog = opts.verdictLog ? { verdictLog: opts.verdictLog } : {};
  const families = opts.families ?? [4, 6];
  const logger = opts.logger ?? silentLogger;
  const binaries = opts.binaries ?? DEFAULT_BINARIES;
  const engine = {
    ...(opts.mode ? { mode: opts.mode } : {}),
    logger,
    ...(opts.gcDelayMs !== undefined ? { gcDelayMs: opts.gcDelayMs } : {}),
  };
  const failClosed = opts.newPods === 'fail-closed';
  if ((opts.backend ?? 'iptables') === 'nftables') {
    return new NftablesDataplane({
      kernel: opts.kernel,
      families,
      markBit,
      failClosed,
      binaries,
      logger,
      engine,
      ...verdictLog,
    });
  }
  return new IptablesDataplane({
    kernel: opts.kernel,
    families,
    markBit,
    failClosed,
    binaries,
    logger,
    ...verdictLog,
    ...(opts.ipsetSession !== undefined ? { ipsetSession: opts.ipsetSession } : {}),
    engine,
  });
}
