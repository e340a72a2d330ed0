/**
 * The dataplane's public surface, as the agent and the bench use it.
 *
 *   CompiledState + CompileDelta ──render──▶ desired chains and ipsets (per IP family)
 *   desired vs last applied ──diff──▶ restore text (ipset restore, iptables-restore --noflush)
 *   restore text ──Kernel──▶ the kernel;  Kernel.save ──▶ read-back for drift
 *
 * Every process spawn lives behind `Kernel` (kernel.ts); tests replace it with FakeKernel.
 */
import type { CompileDelta, CompiledState } from '../compiler';

export type IPFamily = 4 | 6;

/** What one apply did, for logs, metrics and the bench. */
export interface ApplyStats {
  /** Bytes and lines handed to ipset restore and iptables-restore/ip6tables-restore, both families. */
  readonly restoreBytes: number;
  readonly restoreLines: number;
  readonly ipsetLines: number;
  readonly iptablesLines: number;
  /** Time spent rendering and diffing (pure work), ms. */
  readonly diffMs: number;
  /** Time spent in the kernel processes, ms. */
  readonly applyMs: number;
  /** Processes spawned. */
  readonly spawns: number;
}

export interface KernelCounts {
  readonly rules: number;
  readonly chains: number;
  readonly ipsets: number;
  readonly members: number;
}

export interface DriftReport {
  /** Human-readable differences, one per line ("chain PALISADE-P-xxx missing", ...). Empty = in sync. */
  readonly differences: readonly string[];
}

export interface Dataplane {
  /**
   * Make the kernel match `state`. `delta` names what changed since the previous successful
   * or failed sync; after a failure the dataplane falls back to a full diff on its own.
   * Throws ApplyError (with the offending input lines) when the kernel refuses.
   */
  sync(state: CompiledState, delta: CompileDelta): Promise<ApplyStats>;
  /** Read the kernel back (own objects only) and list differences from the desired state. */
  checkDrift(): Promise<DriftReport>;
  /** checkDrift, then rewrite whatever differs. Returns what was repaired. */
  repairDrift(): Promise<DriftReport>;
  /** Counts of the desired (= applied, when in sync) kernel objects. */
  counts(): KernelCounts;
}
