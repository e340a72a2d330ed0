/**
 * The dataplane's public surface, as the agent and the bench use it.
 *
 *   CompiledState + CompileDelta ──render──▶ desired chains and ipsets (per IP family)
 *   desired vs last applied ──diff──▶ restore text (ipset restore, iptables-restore --noflush)
 *   restore text ──Kernel──▶ the kernel;  Kernel.save ──▶ read-back for drift
 *
 * Every process spawn lives behind `Kernel` (kernel.ts); tests replace it with FakeKernel.
 * Build one with `createDataplane({ kernel, mode, logger })`.
 */
import type { CompileDelta, CompiledState, PeerSetDef, PeerSetKey } from '../compiler/ir';
import type { ObjectKey } from '../compiler/model';
import type { Binaries, Kernel } from './kernel';

export type IPFamily = 4 | 6;

/**
 * incremental: re-render what the delta names and write only what differs (the product).
 * full: the kube-router baseline — re-render everything and rewrite every own chain and set on
 * every sync (read back, flush and refill). Both leave the same kernel state.
 */
export type SyncMode = 'incremental' | 'full';

/** What one apply did, for logs, metrics and the bench. */
export interface ApplyStats {
  /** Bytes and lines handed to ipset restore and iptables-restore/ip6tables-restore, both families. */
  readonly restoreBytes: number;
  readonly restoreLines: number;
  readonly ipsetLines: number;
  readonly iptablesLines: number;
  /** Time spent rendering and diffing (pure work), ms. */
  readonly diffMs: number;
  /** Time spent in the kernel processes (read-back included), ms. */
  readonly applyMs: number;
  /** Processes spawned (read-back included). */
  readonly spawns: number;
  /** True when this sync compared everything (start, delta.full, after a failure, full mode). */
  readonly fullDiff: boolean;
  /** True when this sync read the kernel back before diffing. */
  readonly readBack: boolean;
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

/** One rule of one of our chains, with where it came from. */
export interface RuleView {
  /** The rule after `-A CHAIN ` as rendered (desired) or as iptables-save prints it (kernel). */
  readonly text: string;
  /** Content hash carried in the rule's comment. */
  readonly hash: string;
  readonly policy?: ObjectKey;
  /** The ClusterNetworkPolicy (by name) the rule comes from or jumps to. */
  readonly clusterPolicy?: string;
  readonly pod?: ObjectKey;
}

export interface ChainView {
  readonly family: IPFamily;
  readonly name: string;
  readonly kind: 'fixed' | 'dispatch' | 'pod' | 'policy' | 'clusterPolicy';
  readonly direction?: 'ingress' | 'egress';
  /** The policy (policy chains) or pod (pod chains) the chain was rendered from. */
  readonly owner?: ObjectKey;
  readonly rules: readonly RuleView[];
}

/** A rule in a built-in chain that jumps to one of ours. */
export interface HookView {
  readonly family: IPFamily;
  readonly builtin: string;
  readonly target: string;
  /** 1-based position in the built-in chain (desired: always 1). */
  readonly position: number;
  readonly text: string;
}

export interface IpSetView {
  readonly name: string;
  readonly family: IPFamily;
  readonly type: 'hash:ip' | 'hash:net' | 'hash:ip,port';
  readonly role: 'peer' | 'isolation' | 'temp';
  readonly direction?: 'ingress' | 'egress';
  /** Peer sets: the IR key and definition (kernel view: known only for sets we rendered). */
  readonly peerSet?: { readonly key: PeerSetKey; readonly def: PeerSetDef };
  /** Sorted, as ipset save prints them ("10.1.0.0/16 nomatch" for except entries). */
  readonly members: readonly string[];
}

/** Our kernel objects as plain data: the desired state, or what the kernel holds. */
export interface DataplaneView {
  readonly chains: readonly ChainView[];
  readonly hooks: readonly HookView[];
  readonly ipsets: readonly IpSetView[];
  readonly counts: KernelCounts;
}

export interface CleanupReport {
  readonly chains: number;
  readonly hooks: number;
  readonly ipsets: number;
}

export interface Dataplane {
  readonly mode: SyncMode;
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
  /** The desired state (as of the last sync) as plain data. */
  desiredView(): DataplaneView;
  /** Our objects as the kernel holds them now, in the same shape. */
  kernelView(): Promise<DataplaneView>;
  /**
   * Remove every object Palisade created (hooks, chains, sets) and nothing else; the next sync
   * starts from scratch. Used by `palisade cleanup`.
   */
  cleanup(): Promise<CleanupReport>;
}

/** Structured logging, compatible with a winston logger. */
export interface DataplaneLogger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

export interface DataplaneOptions {
  readonly kernel: Kernel;
  /** Default 'incremental'. */
  readonly mode?: SyncMode;
  /** IP families to program; default both. */
  readonly families?: readonly IPFamily[];
  /**
   * The packet-mark bit Palisade uses inside its chains ("a rule allowed"); default 0x100000.
   * The next higher bit (the next lower for 0x80000000) carries "a ClusterNetworkPolicy rule
   * passed". Both are cleared before a packet leaves Palisade's chains.
   */
  readonly markBit?: number;
  /** Binary names; default iptables-restore, ip6tables-restore, iptables-save, ip6tables-save, ipset. */
  readonly binaries?: Binaries;
  readonly logger?: DataplaneLogger;
}

export { createDataplane } from './dataplane';
export { ApplyError, ProcessKernel, DEFAULT_BINARIES, LEGACY_BINARIES } from './kernel';
export type { Kernel, ProcessResult, Binaries, ProcessKernelOptions } from './kernel';
export { FakeKernel } from './fake-kernel';
export { isOwnName, PREFIX } from './names';
