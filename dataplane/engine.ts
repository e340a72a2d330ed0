/**
 * SyncEngine: keeps the kernel equal to the desired state with the least work, for either
 * backend. The backend (iptables/backend.ts, nftables/backend.ts) renders, reads the kernel back
 * and writes changes in its own language; everything else is here.
 *
 * What it models: three pieces of state, each in one place — `desired` (DesiredState, rendered
 * from the IR, cached per object), `applied` (what the kernel holds as far as we know: read back
 * at start and after any failure, then updated from each successful write), and two flags:
 * `needRebuild` (re-render everything) and `needFullSync` (read the kernel back and compare all).
 *
 * How a sync works (incremental mode):
 *   needRebuild || delta.full ?  desired = render(state)          : desired.apply(state, delta)
 *   needFullSync || delta.full ? applied = readKernel(); diff all  : diff the marked objects only
 *   changes ──backend.write──▶ the kernel ──commit──▶ applied
 * A first sync therefore adopts what a previous run left (no flush, no open window). Any error
 * sets both flags, so the next sync re-reads the kernel and converges whatever half-happened.
 * Full mode re-reads and rewrites everything on every sync (backend.rewriteAll).
 *
 * Deletions a backend keeps for later (nftables: chains and sets nothing references any more)
 * stay in `applied` until `collectGarbage()`, which runs on its own `gcDelayMs` after the sync
 * that left them, off the event path.
 *
 * The desired state is brought up to date when sync() is called, not when its turn in the queue
 * comes: the compiler's state is live (every event updates it at once) while a delta names only
 * what changed up to its compile, and the recorder cancels a change undone before the next
 * compile. Rendered later (behind a garbage collection or a drift check), a delta's objects
 * would pick up a change the next delta no longer names (a pod that joined and left a peer set
 * in between would stay in it).
 *
 * Promise: calls run one at a time; objects that are not the backend's own are never written.
 */
import type { CompileDelta, CompiledState } from '../compiler/ir';
import type {
  ApplyStats,
  BackendKind,
  ChainView,
  CleanupReport,
  Dataplane,
  DataplaneLogger,
  DataplaneView,
  DriftReport,
  DriftWatchStatus,
  ForeignChange,
  HookView,
  IpSetView,
  KernelCounts,
  LogCounterSample,
  SyncMode,
} from './api';
import { DesiredState, type Renderer } from './desired';
import { type Changes, type Kept, commitChanges, copyInto, diffTables, noChanges } from './diff';
import { type TableKey, type TableState, type TablesState, emptyTables } from './model';

/** What one apply cost, filled in by the backend. */
export interface Meter {
  spawns: number;
  applyMs: number;
  bytes: number;
  ipsetLines: number;
  iptablesLines: number;
  nftLines: number;
  transactions: number;
}

export function newMeter(): Meter {
  return { spawns: 0, applyMs: 0, bytes: 0, ipsetLines: 0, iptablesLines: 0, nftLines: 0, transactions: 0 };
}

/** Why a backend is asked to write: a sync may keep deletions for later; the others may not. */
export type WritePurpose = 'sync' | 'repair' | 'collect';

export interface Backend {
  readonly kind: BackendKind;
  readonly renderer: Renderer;
  /** Our objects as the kernel holds them. */
  readKernel(meter: Meter): Promise<TablesState>;
  /** The verdict log's rate-limit counters (api.ts Dataplane.readLogCounters). */
  readLogCounters(): Promise<LogCounterSample[]>;
  /** Apply `changes` (from `applied` towards `desired`); returns deletions it kept for later. */
  write(
    changes: Changes,
    desired: TablesState,
    applied: TablesState,
    meter: Meter,
    purpose: WritePurpose,
  ): Promise<Kept>;
  /** Full mode: rewrite every own object so the kernel holds exactly `desired`. */
  rewriteAll(desired: TablesState, applied: TablesState, meter: Meter): Promise<void>;
  /** Remove every own object `applied` holds, and nothing else. */
  removeAll(applied: TablesState, meter: Meter): Promise<void>;
  /** Stop whatever the backend keeps running (sessions); the kernel state stays. */
  close(): Promise<void>;
}

export interface EngineOptions {
  readonly mode?: SyncMode;
  readonly logger?: DataplaneLogger;
  /** Delay before kept deletions are collected; default 1000 ms. */
  readonly gcDelayMs?: number;
}

const silentLogger: DataplaneLogger = { debug() {}, info() {}, warn() {}, error() {} };

export class SyncEngine implements Dataplane {
  readonly mode: SyncMode;
  readonly backend: BackendKind;
  protected readonly impl: Backend;
  protected readonly log: DataplaneLogger;
  private readonly gcDelayMs: number;

  protected desired: DesiredState | undefined;
  protected applied: TablesState;
  protected needRebuild = true;
  protected needFullSync = true;
  /** Names ("table\0chain", set names) kept in `applied` for collectGarbage. */
  private kept = { chains: new Set<string>(), sets: new Set<string>() };
  private gcTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(impl: Backend, opts: EngineOptions = {}) {
    this.impl = impl;
    this.backend = impl.kind;
    this.mode = opts.mode ?? 'incremental';
    this.log = opts.logger ?? silentLogger;
    this.gcDelayMs = opts.gcDelayMs ?? 1000;
    this.applied = emptyTables(impl.renderer.tables);
  }

  /** Calls run one at a time: a drift repair never interleaves with a sync. */
  private queue: Promise<unknown> = Promise.resolve();

  protected serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  sync(state: CompiledState, delta: CompileDelta): Promise<ApplyStats> {
    let renderMs: number;
    try {
      renderMs = this.render(state, delta);
    } catch (e) {
      this.needRebuild = true;
      this.needFullSync = true;
      this.log.error('dataplane: rendering failed; the next sync renders everything', { error: String(e) });
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    return this.serial(() => this.syncNow(state, renderMs));
  }

  checkDrift(): Promise<DriftReport> {
    return this.serial(() => this.checkDriftNow());
  }

  repairDrift(): Promise<DriftReport> {
    return this.serial(() => this.repairDriftNow());
  }

  kernelView(): Promise<DataplaneView> {
    return this.serial(async () =>
      tablesView(this.backend, await this.impl.readKernel(newMeter()), this.desired?.tables),
    );
  }

  cleanup(): Promise<CleanupReport> {
    return this.serial(() => this.cleanupNow());
  }

  collectGarbage(): Promise<number> {
    return this.serial(() => this.collectNow());
  }

  /** Not serialised: a counter read need not wait behind a long sync, and reads nothing it writes. */
  readLogCounters(): Promise<readonly LogCounterSample[]> {
    return this.impl.readLogCounters();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.gcTimer) clearTimeout(this.gcTimer);
    await this.serial(() => this.impl.close());
  }

  /** A backend that cannot watch the kernel (iptables) relies on the periodic drift check. */
  watchDrift(_listener: (change: ForeignChange) => void): boolean {
    return false;
  }

  driftWatch(): DriftWatchStatus | null {
    return null;
  }

  counts(): KernelCounts {
    return this.desired ? countTables(this.desired.tables) : { rules: 0, chains: 0, ipsets: 0, members: 0 };
  }

  desiredView(): DataplaneView {
    return tablesView(
      this.backend,
      this.desired?.tables ?? emptyTables(this.impl.renderer.tables),
      undefined,
    );
  }

  // -------------------------------------------------------------------------------------------

  /**
   * Brings the desired state up to date with `state` as of `delta` (see the header): a rebuild
   * (first sync, full mode, after a failure) or the delta's objects re-rendered. Returns ms.
   */
  private render(state: CompiledState, delta: CompileDelta): number {
    const t0 = performance.now();
    if (this.mode === 'full' || this.needRebuild || delta.full || !this.desired) {
      this.desired = DesiredState.build(state, this.impl.renderer);
      this.desired.takeDirty();
      this.needRebuild = false;
      // A rebuilt desired state has no marks: the kernel is read back and compared whole.
      this.needFullSync = true;
    } else {
      this.desired.apply(state, delta);
    }
    return performance.now() - t0;
  }

  private async syncNow(state: CompiledState, renderMs: number): Promise<ApplyStats> {
    const meter = newMeter();
    const t0 = performance.now();
    let diffMs = renderMs;
    let fullDiff = false;
    try {
      if (this.needRebuild || !this.desired) {
        // A failure since render() (a caller that did not wait for the previous sync).
        this.desired = DesiredState.build(state, this.impl.renderer);
        this.desired.takeDirty();
        this.needRebuild = false;
        this.needFullSync = true;
      }
      fullDiff = this.needFullSync;
      diffMs += performance.now() - t0;
      if (fullDiff) {
        this.applied = await this.impl.readKernel(meter);
        this.kept = { chains: new Set(), sets: new Set() };
      }
      if (this.mode === 'full') {
        const t1 = performance.now();
        this.desired.takeDirty();
        diffMs += performance.now() - t1;
        await this.impl.rewriteAll(this.desired.tables, this.applied, meter);
        copyInto(this.applied, this.desired.tables);
      } else {
        const t1 = performance.now();
        const dirty = this.desired.takeDirty();
        const changes = diffTables(
          this.desired.tables,
          this.applied,
          fullDiff ? { kind: 'all' } : { kind: 'dirty', dirty },
        );
        diffMs += performance.now() - t1;
        if (!noChanges(changes)) {
          const kept = await this.impl.write(changes, this.desired.tables, this.applied, meter, 'sync');
          commitChanges(this.applied, changes, kept);
          this.keep(kept);
        }
        if (fullDiff && changes.differences.length) {
          this.log.info('dataplane: full sync corrected the kernel', {
            differences: changes.differences.length,
          });
        }
      }
      this.needFullSync = false;
    } catch (e) {
      this.needRebuild = true;
      this.needFullSync = true;
      this.log.error('dataplane: sync failed; the next sync re-reads the kernel', { error: String(e) });
      throw e;
    }
    return {
      restoreBytes: meter.bytes,
      restoreLines: meter.ipsetLines + meter.iptablesLines + meter.nftLines,
      ipsetLines: meter.ipsetLines,
      iptablesLines: meter.iptablesLines,
      nftLines: meter.nftLines,
      transactions: meter.transactions,
      diffMs,
      applyMs: meter.applyMs,
      spawns: meter.spawns,
      fullDiff,
      readBack: fullDiff,
    };
  }

  /** Deletions a write kept: recorded, and collected after gcDelayMs. */
  private keep(kept: Kept): void {
    for (const c of kept.chains ?? []) this.kept.chains.add(c);
    for (const s of kept.sets ?? []) this.kept.sets.add(s);
    if (this.kept.chains.size + this.kept.sets.size === 0 || this.gcTimer || this.closed) return;
    this.gcTimer = setTimeout(() => {
      this.gcTimer = undefined;
      this.collectGarbage().catch((e: unknown) =>
        this.log.warn('dataplane: collecting unused objects failed; the next sync retries', {
          error: String(e),
        }),
      );
    }, this.gcDelayMs);
    this.gcTimer.unref();
  }

  /** Delete what earlier syncs kept and nothing desired references: returns how many objects. */
  private async collectNow(): Promise<number> {
    if (!this.desired || this.kept.chains.size + this.kept.sets.size === 0) return 0;
    const changes: Changes = { chains: [], hooks: [], sets: [], differences: [] };
    for (const key of this.kept.chains) {
      const [table, name] = splitChainKey(key);
      const t = this.applied.tables.get(table);
      const applied = t?.chains.get(name);
      const desired = this.desired.tables.tables.get(table)?.chains.get(name);
      if (applied && !desired) changes.chains.push({ table, name, desired: undefined, applied });
    }
    for (const name of this.kept.sets) {
      const applied = this.applied.sets.get(name);
      if (applied && !this.desired.tables.sets.has(name)) {
        changes.sets.push({ name, desired: undefined, applied, dels: [], adds: [] });
      }
    }
    this.kept = { chains: new Set(), sets: new Set() };
    if (noChanges(changes)) return 0;
    try {
      await this.impl.write(changes, this.desired.tables, this.applied, newMeter(), 'collect');
    } catch (e) {
      this.needFullSync = true;
      throw e;
    }
    commitChanges(this.applied, changes);
    return changes.chains.length + changes.sets.length;
  }

  private async checkDriftNow(): Promise<DriftReport> {
    if (!this.desired) return { differences: ['nothing synced yet: no desired state to compare'] };
    const kernel = await this.impl.readKernel(newMeter());
    return {
      differences: diffTables(this.desired.tables, this.withoutKept(kernel), { kind: 'all' }).differences,
    };
  }

  /**
   * The kernel as a drift check sees it: chains and sets an earlier sync kept for collectGarbage
   * (and nothing desired names again) are ours and known, not drift. Without this, a check in
   * the second after a pod or policy went reported its chains as "not desired", and a repair
   * collected them early and counted that as a repair.
   */
  private withoutKept(kernel: TablesState): TablesState {
    if (!this.desired || this.kept.chains.size + this.kept.sets.size === 0) return kernel;
    const desired = this.desired.tables;
    const tables = new Map<TableKey, TableState>();
    for (const [key, t] of kernel.tables) tables.set(key, { chains: new Map(t.chains), hooks: t.hooks });
    for (const k of this.kept.chains) {
      const [table, name] = splitChainKey(k);
      if (!desired.tables.get(table)?.chains.has(name)) tables.get(table)?.chains.delete(name);
    }
    const sets = new Map(kernel.sets);
    for (const name of this.kept.sets) if (!desired.sets.has(name)) sets.delete(name);
    return { tables, sets };
  }

  protected async repairDriftNow(): Promise<DriftReport> {
    if (!this.desired) return { differences: ['nothing synced yet: no desired state to compare'] };
    if (this.needRebuild) {
      // The last sync failed half-way through rendering or applying; the next one re-renders
      // and compares everything, which is the repair.
      return { differences: ['last sync failed: the next sync re-reads the kernel and repairs it'] };
    }
    const desired = this.desired;
    const kernel = await this.impl.readKernel(newMeter());
    const changes = diffTables(desired.tables, this.withoutKept(kernel), { kind: 'all' });
    if (changes.differences.length === 0) return { differences: [] };
    this.log.warn('dataplane: repairing drift', { differences: changes.differences });
    try {
      if (!noChanges(changes)) {
        await this.impl.write(changes, desired.tables, kernel, newMeter(), 'repair');
        commitChanges(kernel, changes);
      }
      // Kept objects are still in `kernel` (and so in applied): collectGarbage deletes them.
      this.applied = kernel;
    } catch (e) {
      this.needFullSync = true;
      throw e;
    }
    return { differences: changes.differences };
  }

  private async cleanupNow(): Promise<CleanupReport> {
    const kernel = await this.impl.readKernel(newMeter());
    await this.impl.removeAll(kernel, newMeter());
    this.applied = emptyTables(this.impl.renderer.tables);
    this.kept = { chains: new Set(), sets: new Set() };
    this.needFullSync = true;
    this.needRebuild = true;
    let chains = 0;
    let hooks = 0;
    for (const t of kernel.tables.values()) {
      chains += t.chains.size;
      hooks += t.hooks.length;
    }
    return { chains, hooks, ipsets: kernel.sets.size };
  }
}

function splitChainKey(key: string): [TableKeyOf, string] {
  const at = key.indexOf('\0');
  const table = key.slice(0, at);
  return [table === 'inet' ? 'inet' : (Number(table) as 4 | 6), key.slice(at + 1)];
}

type TableKeyOf = 'inet' | 4 | 6;

export function countTables(t: TablesState): KernelCounts {
  let rules = 0;
  let chains = 0;
  for (const table of t.tables.values()) {
    chains += table.chains.size;
    rules += table.hooks.length;
    for (const c of table.chains.values()) rules += c.rules.length;
  }
  let members = 0;
  for (const s of t.sets.values()) members += s.members.size;
  return { rules, chains, ipsets: t.sets.size, members };
}

/** Plain-data view; `known` lends peer-set keys and rule origins to a kernel read-back. */
export function tablesView(
  backend: BackendKind,
  t: TablesState,
  known: TablesState | undefined,
): DataplaneView {
  const chains: ChainView[] = [];
  const hooks: HookView[] = [];
  for (const [table, tt] of t.tables) {
    for (const c of [...tt.chains.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const knownChain = known?.tables.get(table)?.chains.get(c.name);
      const owner = c.owner ?? knownChain?.owner;
      const origin = new Map((knownChain?.rules ?? []).map((r) => [r.hash, r]));
      chains.push({
        table,
        family: c.family,
        name: c.name,
        kind: c.kind,
        ...(c.direction ? { direction: c.direction } : {}),
        ...(owner ? { owner } : {}),
        ...(c.base ? { base: c.base } : {}),
        rules: c.rules.map((r) => {
          const o = r.policy || r.clusterPolicy || r.pod ? r : origin.get(r.hash);
          return {
            text: r.body,
            hash: r.hash,
            ...(o?.policy ? { policy: o.policy } : {}),
            ...(o?.clusterPolicy ? { clusterPolicy: o.clusterPolicy } : {}),
            ...(o?.pod ? { pod: o.pod } : {}),
          };
        }),
      });
    }
    if (table !== 'inet') {
      for (const h of tt.hooks) {
        hooks.push({
          family: table,
          builtin: h.builtin,
          target: h.target,
          position: h.position,
          text: h.body,
        });
      }
    }
  }
  const ipsets: IpSetView[] = [...t.sets.values()]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((s) => {
      const peerSet = s.peerSet ?? known?.sets.get(s.name)?.peerSet;
      return {
        name: s.name,
        family: s.family,
        type: s.type,
        role: s.role,
        ...(s.direction ? { direction: s.direction } : {}),
        ...(peerSet ? { peerSet } : {}),
        members: [...s.members].sort(),
      };
    });
  return { backend, chains, hooks, ipsets, counts: countTables(t) };
}
