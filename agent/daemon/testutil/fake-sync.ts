/**
 * Fakes for the runner's two collaborators.
 *
 * FakeCompiler models "the desired state" as a version per pod key: `change(key)` bumps it,
 * compile() returns the whole map as the state and the keys changed since the last compile as
 * the delta (full on the first compile), like IncrementalCompiler.flush().
 *
 * FakeDataplane records every sync (time, state snapshot, delta) and plays a script of
 * outcomes: 'ok', an Error to throw, or 'hold' (the sync stays in flight until release()).
 */
import type { CompileDelta, CompiledState } from '../../../compiler';
import type { ApplyStats, DriftReport, KernelCounts } from '../../../dataplane/api';
import type { Clock } from '../clock';
import type { RunnerCompiler, RunnerDataplane } from '../runner';

export class FakeCompiler implements RunnerCompiler {
  readonly versions = new Map<string, number>();
  private dirty = new Set<string>();
  private first = true;
  compiles = 0;

  change(key: string): void {
    this.versions.set(key, (this.versions.get(key) ?? 0) + 1);
    this.dirty.add(key);
  }

  compile(): { state: CompiledState; delta: CompileDelta } {
    this.compiles++;
    const delta: CompileDelta = {
      full: this.first,
      pods: this.dirty,
      policies: new Set(),
      clusterPolicies: new Set(),
      peerSets: new Set(),
      members: new Map(),
    };
    this.first = false;
    this.dirty = new Set();
    // The fake state carries the versions in `pods` keys: "key@version".
    const pods = new Map([...this.versions].map(([k, v]) => [`${k}@${v}`, undefined as never]));
    return { state: { pods, policies: new Map(), clusterPolicies: new Map(), peerSets: new Map() }, delta };
  }
}

export type SyncOutcome = 'ok' | 'hold' | Error;

export interface SyncCall {
  readonly at: number;
  /** "key@version" of every pod in the state handed over. */
  readonly state: readonly string[];
  readonly full: boolean;
  readonly changed: readonly string[];
}

export const STATS: ApplyStats = {
  restoreBytes: 120,
  restoreLines: 6,
  ipsetLines: 2,
  iptablesLines: 4,
  nftLines: 0,
  transactions: 0,
  diffMs: 0.1,
  applyMs: 1,
  spawns: 2,
  fullDiff: false,
  readBack: false,
};

export class FakeDataplane implements RunnerDataplane {
  readonly syncs: SyncCall[] = [];
  readonly repairs: number[] = [];
  script: SyncOutcome[] = [];
  repairScript: Array<DriftReport | Error> = [];
  private held: Array<() => void> = [];
  inFlight = 0;
  maxInFlight = 0;

  constructor(private readonly clock: Clock) {}

  async sync(state: CompiledState, delta: CompileDelta): Promise<ApplyStats> {
    this.syncs.push({
      at: this.clock.now(),
      state: [...state.pods.keys()].sort(),
      full: delta.full,
      changed: [...delta.pods].sort(),
    });
    const outcome = this.script.shift() ?? 'ok';
    return this.track(async () => {
      if (outcome === 'hold') await new Promise<void>((r) => this.held.push(r));
      else if (outcome instanceof Error) throw outcome;
      return STATS;
    });
  }

  async repairDrift(): Promise<DriftReport> {
    this.repairs.push(this.clock.now());
    const outcome = this.repairScript.shift() ?? { differences: [] };
    return this.track(async () => {
      if (outcome instanceof Error) throw outcome;
      return outcome;
    });
  }

  counts(): KernelCounts {
    return { rules: 10, chains: 3, ipsets: 2, members: 7 };
  }

  /** Lets the oldest held sync finish. */
  release(): void {
    this.held.shift()?.();
  }

  private async track<T>(fn: () => Promise<T>): Promise<T> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      return await fn();
    } finally {
      this.inFlight--;
    }
  }
}
