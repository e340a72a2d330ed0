/**
 * The dataplane's public surface, as the agent and the bench use it. Two backends sit behind it
 * (README.md): iptables + ipset (dataplane/iptables/) and native nftables (dataplane/nftables/).
 *
 *   CompiledState + CompileDelta ──render──▶ desired chains and sets (the backend's Renderer)
 *   desired vs last applied ──diff──▶ Changes ──plan──▶ the backend's input
 *     (iptables: ipset restore, iptables-restore --noflush; nftables: one transaction)
 *   input ──Kernel──▶ the kernel;  read-back (iptables-save / nft list) ──▶ drift
 *
 * Every process lives behind `Kernel` (kernel.ts); tests replace it with FakeKernel (iptables)
 * or FakeNft (nftables). Build one with `createDataplane({ kernel, backend, mode, logger })`.
 */
import type { CompileDelta, CompiledState, PeerSetDef, PeerSetKey } from '../compiler/ir';
import type { ObjectKey } from '../compiler/model';
import type { Binaries, Kernel } from './kernel';
import type { VerdictLogOptions } from './verdict-log';

export type IPFamily = 4 | 6;

/** Which kernel interface programs the rules: iptables-nft + ipset, or nftables natively. */
export type BackendKind = 'iptables' | 'nftables';
export const BACKENDS: readonly BackendKind[] = ['iptables', 'nftables'];

/**
 * incremental: re-render what the delta names and write only what differs (the product).
 * full: the kube-router baseline — re-render everything and rewrite every own chain and set on
 * every sync (read back, flush and refill). Both leave the same kernel state.
 */
export type SyncMode = 'incremental' | 'full';

/** What one apply did, for logs, metrics and the bench. */
export interface ApplyStats {
  /** Bytes and lines handed to the kernel tools (ipset, iptables-restore per family, nft). */
  readonly restoreBytes: number;
  readonly restoreLines: number;
  readonly ipsetLines: number;
  readonly iptablesLines: number;
  readonly nftLines: number;
  /** nftables: transactions committed (one per apply, more when unused objects are collected). */
  readonly transactions: number;
  /** Time spent rendering and diffing (pure work), ms. */
  readonly diffMs: number;
  /** Time spent in the kernel processes (read-back included), ms. */
  readonly applyMs: number;
  /** Processes spawned (read-back included; nftables: session children started). */
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
  /** iptables: the family's filter table; nftables: 'inet'. */
  readonly table: IPFamily | 'inet';
  /** The family the chain's rules concern. */
  readonly family: IPFamily;
  readonly name: string;
  readonly kind: 'fixed' | 'dispatch' | 'pod' | 'policy' | 'clusterPolicy';
  readonly direction?: 'ingress' | 'egress';
  /** The policy (policy chains) or pod (pod chains) the chain was rendered from. */
  readonly owner?: ObjectKey;
  /** nftables base chains: where they hook. */
  readonly base?: {
    readonly type: string;
    readonly hook: string;
    readonly priority: number;
    readonly policy: string;
  };
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
  /** ipset: hash:ip, hash:net, hash:ip,port; nftables: ipv4_addr, ipv4_addr interval, ipv4_addr . inet_service, ipv4_addr : verdict (and ipv6). */
  readonly type: string;
  /** object: an nftables named object (the verdict log's limit and counters; `type` declares it). */
  readonly role: 'peer' | 'isolation' | 'temp' | 'object' | 'local' | 'known';
  readonly direction?: 'ingress' | 'egress';
  /** Peer sets: the IR key and definition (kernel view: known only for sets we rendered). */
  readonly peerSet?: { readonly key: PeerSetKey; readonly def: PeerSetDef };
  /** Sorted, as ipset save prints them ("10.1.0.0/16 nomatch" for except entries). */
  readonly members: readonly string[];
}

/** Our kernel objects as plain data: the desired state, or what the kernel holds. */
export interface DataplaneView {
  readonly backend: BackendKind;
  readonly chains: readonly ChainView[];
  readonly hooks: readonly HookView[];
  readonly ipsets: readonly IpSetView[];
  readonly counts: KernelCounts;
}

/** A commit to the dataplane's own kernel objects that Palisade did not make, seen as it happened. */
export interface ForeignChange {
  /** The kernel's ruleset generation after the commit (0: the watch restarted, commits may be missed). */
  readonly generation: number;
  /** Who committed (0 when unknown). */
  readonly pid: number;
  readonly comm: string;
  /** The commit's events that concern Palisade's objects (or that nft could not resolve). */
  readonly events: readonly string[];
  /** False when the change is only possible (unresolved events, a watch restart). */
  readonly certain: boolean;
}

export interface DriftWatchStatus {
  readonly running: boolean;
  readonly restarts: number;
  /** Foreign commits seen that touched (or may have touched) Palisade's objects. */
  readonly foreignChanges: number;
  readonly lastForeignChange: (ForeignChange & { readonly at: number }) | null;
}

/**
 * One of the verdict log's rate-limit counters as the kernel holds it (verdict-log.ts): `seen`
 * counts packets that reached a log point, `logged` those the node's bucket let through to NFLOG;
 * `seen - logged` were lost to the rate limit.
 */
export interface LogCounterSample {
  /**
   * Which kernel object holds the count (iptables: `ipv4:<rule hash>`, one per family; nftables:
   * `<name>#<handle>`). Counters start from zero when their object is created: a key not seen
   * before is a new object, and a key whose count went down was deleted and created again.
   */
  readonly key: string;
  readonly role: 'seen' | 'logged';
  readonly packets: number;
}

export interface CleanupReport {
  readonly chains: number;
  readonly hooks: number;
  readonly ipsets: number;
}

export interface Dataplane {
  readonly mode: SyncMode;
  readonly backend: BackendKind;
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
  /**
   * Delete objects earlier syncs left unused on purpose (nftables keeps deletions off the event
   * path); runs on its own shortly after such a sync. Returns how many objects went.
   */
  collectGarbage(): Promise<number>;
  /**
   * Watch the kernel for changes to Palisade's objects that Palisade did not make, and call
   * `listener` for each as it happens (nftables: `nft monitor`). The caller repairs (the agent's
   * runner requests a drift repair). Returns false when the backend cannot watch (iptables: the
   * periodic drift check is the only way).
   */
  watchDrift(listener: (change: ForeignChange) => void): boolean;
  /** The watch's state, or null when there is none. */
  driftWatch(): DriftWatchStatus | null;
  /**
   * The verdict log's rate-limit counters as the kernel holds them now (one small read: iptables
   * one `iptables -S PALISADE-LOG-LIMIT -v` per family, nftables `list counters` through the
   * session). Empty when verdict logs are off; a family (iptables) or table (nftables) whose
   * counters are not in the kernel, or could not be read, contributes nothing. Does not wait for
   * a sync in progress.
   */
  readLogCounters(): Promise<readonly LogCounterSample[]>;
  /** Stop background work (the nft session, the drift monitor); the kernel state stays. */
  close(): Promise<void>;
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
  /** Default 'iptables'. */
  readonly backend?: BackendKind;
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
  /** Binary names; default iptables-restore, ip6tables-restore, iptables-save, ip6tables-save, ipset, nft. */
  readonly binaries?: Binaries;
  readonly logger?: DataplaneLogger;
  /** Delay before objects a sync left unused are deleted (nftables); default 1000 ms. */
  readonly gcDelayMs?: number;
  /**
   * iptables: send small ipset batches (member changes) through a long-lived `ipset -` rather
   * than an `ipset restore` process each; default true (when the kernel can start processes).
   */
  readonly ipsetSession?: boolean;
  /**
   * Verdict logs (verdict-log.ts): every drop, and optionally the first packet of allowed
   * connections, handed to NFLOG with its log point's prefix, rate-limited per node; audit-mode
   * policies evaluated for logging only. Undefined (the default): nothing of it is rendered.
   */
  readonly verdictLog?: VerdictLogOptions;
  /**
   * What happens to traffic of a local pod address the dataplane has not programmed yet (a new
   * pod, before its rules are in place): 'fail-closed' drops it, except between the pod and its
   * node (the address ranges are CompiledState.localPodCIDRs; the pods, its subject pods);
   * 'fail-open' (the default here; the agent's default is fail-closed) lets it through.
   */
  readonly newPods?: NewPodsPolicy;
}

export type NewPodsPolicy = 'fail-closed' | 'fail-open';
export const NEW_PODS_POLICIES: readonly NewPodsPolicy[] = ['fail-closed', 'fail-open'];

export { createDataplane } from './dataplane';
export { ApplyError, ProcessKernel, DEFAULT_BINARIES, LEGACY_BINARIES } from './kernel';
export type { Kernel, ProcessResult, Binaries, ProcessKernelOptions } from './kernel';
export { FakeKernel } from './iptables/fake-kernel';
export { isOwnName, PREFIX } from './iptables/names';
