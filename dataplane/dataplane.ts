/**
 * IptablesDataplane: keeps the kernel equal to the desired state with the least work.
 *
 * What it models: three pieces of state, each in one place — `desired` (DesiredState, rendered
 * from the IR, cached per object), `applied` (what the kernel holds as far as we know: read back
 * at start and after any failure, then updated from each successful plan), and two flags:
 * `needRebuild` (re-render everything) and `needFullSync` (read the kernel back and compare all).
 *
 * How a sync works (incremental mode):
 *   needRebuild || delta.full ?  desired = render(state)          : desired.apply(state, delta)
 *   needFullSync || delta.full ? applied = readKernel(); diff all  : diff the marked objects only
 *   plan ──▶ ipset restore (pre) ─▶ iptables-restore per family ─▶ ipset restore (post)
 * A first sync therefore adopts what a previous run left (no flush, no open window). Any error
 * sets both flags, so the next sync re-reads the kernel and converges whatever half-happened.
 * Full mode re-reads and rewrites everything on every sync (rewriteAll in diff.ts).
 *
 * Promise: at every instant an isolated pod is covered by either its old or its new rules (see
 * the ordering in diff.ts); objects not named PALISADE-* are never written.
 */
import type { CompileDelta, CompiledState } from '../compiler/ir';
import type {
  ApplyStats,
  ChainView,
  CleanupReport,
  Dataplane,
  DataplaneLogger,
  DataplaneOptions,
  DataplaneView,
  DriftReport,
  HookView,
  IPFamily,
  IpSetView,
  KernelCounts,
  SyncMode,
} from './api';
import { DesiredState } from './desired';
import { type Plan, commitPlan, diffTables, planIsEmpty, removeAll, rewriteAll } from './diff';
import { ApplyError, type Binaries, DEFAULT_BINARIES, type Kernel } from './kernel';
import { type FamilyTables, type TablesState, emptyTables } from './model';
import { parseIpsetSave, parseIptablesSave } from './readback';
import { DEFAULT_MARK_BIT } from './render';

const silentLogger: DataplaneLogger = { debug() {}, info() {}, warn() {}, error() {} };

interface Meter {
  spawns: number;
  applyMs: number;
  ipsetLines: number;
  iptablesLines: number;
  bytes: number;
}

export class IptablesDataplane implements Dataplane {
  readonly mode: SyncMode;
  private readonly kernel: Kernel;
  private readonly families: readonly IPFamily[];
  private readonly markBit: number;
  private readonly bin: Binaries;
  private readonly log: DataplaneLogger;

  private desired: DesiredState | undefined;
  private applied: TablesState;
  private needRebuild = true;
  private needFullSync = true;

  constructor(opts: DataplaneOptions) {
    this.kernel = opts.kernel;
    this.mode = opts.mode ?? 'incremental';
    this.families = opts.families ?? [4, 6];
    this.markBit = opts.markBit ?? DEFAULT_MARK_BIT;
    if (this.markBit <= 0 || (this.markBit & (this.markBit - 1)) !== 0 || this.markBit > 0x80000000) {
      throw new Error(`markBit must be a single bit of the 32-bit mark, got ${this.markBit}`);
    }
    this.bin = opts.binaries ?? DEFAULT_BINARIES;
    this.log = opts.logger ?? silentLogger;
    this.applied = emptyTables(this.families);
  }

  /** Calls run one at a time: a drift repair never interleaves with a sync. */
  private queue: Promise<unknown> = Promise.resolve();

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  sync(state: CompiledState, delta: CompileDelta): Promise<ApplyStats> {
    return this.serial(() => this.syncNow(state, delta));
  }

  checkDrift(): Promise<DriftReport> {
    return this.serial(() => this.checkDriftNow());
  }

  repairDrift(): Promise<DriftReport> {
    return this.serial(() => this.repairDriftNow());
  }

  kernelView(): Promise<DataplaneView> {
    return this.serial(async () => tablesView(await this.readKernel(newMeter()), this.desired?.tables));
  }

  cleanup(): Promise<CleanupReport> {
    return this.serial(() => this.cleanupNow());
  }

  private async syncNow(state: CompiledState, delta: CompileDelta): Promise<ApplyStats> {
    const meter = newMeter();
    const t0 = performance.now();
    const rebuild = this.mode === 'full' || this.needRebuild || delta.full;
    const fullDiff = rebuild || this.needFullSync;
    let diffMs = 0;
    try {
      if (rebuild || !this.desired) {
        this.desired = DesiredState.build(state, { families: this.families, markBit: this.markBit });
        this.desired.takeDirty();
      } else {
        this.desired.apply(state, delta);
      }
      this.needRebuild = false;
      diffMs += performance.now() - t0;
      if (fullDiff) this.applied = await this.readKernel(meter);
      const t1 = performance.now();
      const dirty = this.desired.takeDirty();
      const plan =
        this.mode === 'full'
          ? rewriteAll(this.desired.tables, this.applied)
          : diffTables(
              this.desired.tables,
              this.applied,
              fullDiff ? { kind: 'all' } : { kind: 'dirty', dirty },
            );
      diffMs += performance.now() - t1;
      await this.execute(plan, meter);
      commitPlan(this.applied, this.desired.tables, plan);
      this.needFullSync = false;
      if (fullDiff && plan.differences.length && this.mode === 'incremental') {
        this.log.info('dataplane: full sync corrected the kernel', { differences: plan.differences.length });
      }
    } catch (e) {
      this.needRebuild = true;
      this.needFullSync = true;
      this.log.error('dataplane: sync failed; the next sync re-reads the kernel', { error: String(e) });
      throw e;
    }
    return {
      restoreBytes: meter.bytes,
      restoreLines: meter.ipsetLines + meter.iptablesLines,
      ipsetLines: meter.ipsetLines,
      iptablesLines: meter.iptablesLines,
      diffMs,
      applyMs: meter.applyMs,
      spawns: meter.spawns,
      fullDiff,
      readBack: fullDiff,
    };
  }

  private async checkDriftNow(): Promise<DriftReport> {
    if (!this.desired) return { differences: ['nothing synced yet: no desired state to compare'] };
    const kernel = await this.readKernel(newMeter());
    return { differences: diffTables(this.desired.tables, kernel, { kind: 'all' }).differences };
  }

  private async repairDriftNow(): Promise<DriftReport> {
    if (!this.desired) return { differences: ['nothing synced yet: no desired state to compare'] };
    if (this.needRebuild) {
      // The last sync failed half-way through rendering or applying; the next one re-renders
      // and compares everything, which is the repair.
      return { differences: ['last sync failed: the next sync re-reads the kernel and repairs it'] };
    }
    const desired = this.desired;
    const kernel = await this.readKernel(newMeter());
    const plan = diffTables(desired.tables, kernel, { kind: 'all' });
    if (plan.differences.length === 0) return { differences: [] };
    this.log.warn('dataplane: repairing drift', { differences: plan.differences });
    try {
      await this.execute(plan, newMeter());
      commitPlan(kernel, desired.tables, plan);
      this.applied = kernel;
    } catch (e) {
      this.needFullSync = true;
      throw e;
    }
    return { differences: plan.differences };
  }

  counts(): KernelCounts {
    return this.desired ? countTables(this.desired.tables) : { rules: 0, chains: 0, ipsets: 0, members: 0 };
  }

  desiredView(): DataplaneView {
    return tablesView(this.desired?.tables ?? emptyTables(this.families), undefined);
  }

  private async cleanupNow(): Promise<CleanupReport> {
    const kernel = await this.readKernel(newMeter());
    const plan = removeAll(kernel);
    await this.execute(plan, newMeter());
    this.applied = emptyTables(this.families);
    this.needFullSync = true;
    this.needRebuild = true;
    let chains = 0;
    let hooks = 0;
    for (const t of kernel.families.values()) {
      chains += t.chains.size;
      hooks += t.hooks.length;
    }
    return { chains, hooks, ipsets: kernel.sets.size };
  }

  // -------------------------------------------------------------------------------------------

  private async run(argv: readonly string[], input: string | undefined, meter: Meter): Promise<string> {
    const t = performance.now();
    const result = await this.kernel.run(argv, input);
    meter.applyMs += performance.now() - t;
    meter.spawns++;
    if (result.code !== 0) {
      const err = new ApplyError(argv, result, input);
      this.log.error('dataplane: kernel tool failed', {
        argv: argv.join(' '),
        code: result.code,
        stderr: result.stderr.trim(),
        lines: err.lines,
      });
      throw err;
    }
    return result.stdout;
  }

  /** Our objects as the kernel holds them: one iptables-save per family, one ipset save. */
  private async readKernel(meter: Meter): Promise<TablesState> {
    const families = new Map<IPFamily, FamilyTables>();
    for (const f of this.families) {
      const text = await this.run([this.bin.iptablesSave[f], '-t', 'filter'], undefined, meter);
      families.set(f, parseIptablesSave(text, f));
    }
    const sets = parseIpsetSave(await this.run([this.bin.ipset, 'save'], undefined, meter));
    return { families, sets };
  }

  private async restoreIpset(lines: readonly string[], meter: Meter): Promise<void> {
    if (lines.length === 0) return;
    const text = `${lines.join('\n')}\n`;
    meter.ipsetLines += lines.length;
    meter.bytes += Buffer.byteLength(text);
    await this.run([this.bin.ipset, 'restore', '-exist'], text, meter);
  }

  private async execute(plan: Plan, meter: Meter): Promise<void> {
    if (planIsEmpty(plan)) return;
    await this.restoreIpset(plan.ipsetPre, meter);
    for (const f of this.families) {
      const lines = plan.iptables.get(f) ?? [];
      if (lines.length === 0) continue;
      const text = `*filter\n${lines.join('\n')}\nCOMMIT\n`;
      meter.iptablesLines += lines.length + 2;
      meter.bytes += Buffer.byteLength(text);
      await this.run([this.bin.iptablesRestore[f], '--noflush', '--wait'], text, meter);
    }
    await this.restoreIpset(plan.ipsetPost, meter);
  }
}

function newMeter(): Meter {
  return { spawns: 0, applyMs: 0, ipsetLines: 0, iptablesLines: 0, bytes: 0 };
}

export function countTables(t: TablesState): KernelCounts {
  let rules = 0;
  let chains = 0;
  for (const f of t.families.values()) {
    chains += f.chains.size;
    rules += f.hooks.length;
    for (const c of f.chains.values()) rules += c.rules.length;
  }
  let members = 0;
  for (const s of t.sets.values()) members += s.members.size;
  return { rules, chains, ipsets: t.sets.size, members };
}

/** Plain-data view; `known` lends peer-set keys and rule origins to a kernel read-back. */
export function tablesView(t: TablesState, known: TablesState | undefined): DataplaneView {
  const chains: ChainView[] = [];
  const hooks: HookView[] = [];
  for (const [family, f] of t.families) {
    for (const c of [...f.chains.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const knownChain = known?.families.get(family)?.chains.get(c.name);
      const owner = c.owner ?? knownChain?.owner;
      const origin = new Map((knownChain?.rules ?? []).map((r) => [r.hash, r]));
      chains.push({
        family,
        name: c.name,
        kind: c.kind,
        ...(c.direction ? { direction: c.direction } : {}),
        ...(owner ? { owner } : {}),
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
    for (const h of f.hooks) {
      hooks.push({ family, builtin: h.builtin, target: h.target, position: h.position, text: h.body });
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
  return { chains, hooks, ipsets, counts: countTables(t) };
}

export function createDataplane(opts: DataplaneOptions): Dataplane {
  return new IptablesDataplane(opts);
}
