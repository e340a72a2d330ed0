/**
 * The cost of one event of each type, measured one at a time on a loaded cluster (the runner
 * idle, so nothing else is in the batch): model update + compile, render + diff, kernel apply.
 *
 * For each repetition the ten types run in order (podAdd, podDelete, podRelabel,
 * namespaceRelabel, policyAdd, policyChange, policyDelete, cnpAdd, cnpChange, cnpDelete): the
 * pod added is the one deleted, relabels toggle back on odd repetitions, the policy and the
 * cluster policy added are changed then deleted, so the cluster is the same at the start of
 * every repetition and medians compare like with like.
 */
import type { Compilation } from '../agent/daemon/compilation';
import type { ApplyStats, Dataplane } from '../dataplane/api';
import { EVENT_TYPES, type EventType, type SingleEvents, applyEvent } from './events';
import { median, nowMs, round } from './stats';

export interface EventCost {
  /** Model update + compile (flush) + render and diff (the pure work), ms, median. */
  readonly compileDiffMsMedian: number;
  /** Time in kernel processes (ipset restore, iptables-restore; read-back in full mode), ms, median. */
  readonly applyMsMedian: number;
  /** Bytes, lines and per-tool lines handed to the restore tools (medians). */
  readonly restoreBytes: number;
  readonly restoreLines: number;
  readonly iptablesLines: number;
  readonly ipsetLines: number;
  /** Event in to sync returned (compile + diff + apply), ms, median. */
  readonly totalMsMedian: number;
  readonly compileMsMedian: number;
  readonly diffMsMedian: number;
  readonly spawnsMedian: number;
  readonly repetitions: number;
  /** Repetitions that changed the kernel (restoreBytes > 0): every one should. */
  readonly effective: number;
}

interface Sample {
  compileMs: number;
  stats: ApplyStats;
  totalMs: number;
}

function summarise(samples: readonly Sample[]): EventCost {
  const m = (f: (s: Sample) => number, digits = 3) => round(median(samples.map(f)), digits);
  return {
    compileDiffMsMedian: m((s) => s.compileMs + s.stats.diffMs),
    applyMsMedian: m((s) => s.stats.applyMs),
    restoreBytes: m((s) => s.stats.restoreBytes, 0),
    restoreLines: m((s) => s.stats.restoreLines, 0),
    iptablesLines: m((s) => s.stats.iptablesLines, 0),
    ipsetLines: m((s) => s.stats.ipsetLines, 0),
    totalMsMedian: m((s) => s.totalMs),
    compileMsMedian: m((s) => s.compileMs),
    diffMsMedian: m((s) => s.stats.diffMs),
    spawnsMedian: m((s) => s.stats.spawns, 0),
    repetitions: samples.length,
    effective: samples.filter((s) => s.stats.restoreBytes > 0).length,
  };
}

export async function measureSingleEvents(
  events: SingleEvents,
  compilation: Compilation,
  dataplane: Dataplane,
  repetitions: number,
  onSample?: () => void,
): Promise<Record<EventType, EventCost>> {
  const samples = Object.fromEntries(EVENT_TYPES.map((t) => [t, [] as Sample[]])) as Record<
    EventType,
    Sample[]
  >;
  for (let rep = 0; rep < repetitions; rep++) {
    for (const type of EVENT_TYPES) {
      const e = events.make(type, rep);
      const t0 = nowMs();
      applyEvent(compilation, e);
      const { state, delta } = compilation.compile();
      const t1 = nowMs();
      const stats = await dataplane.sync(state, delta);
      const t2 = nowMs();
      samples[type].push({ compileMs: t1 - t0, stats, totalMs: t2 - t0 });
      onSample?.();
    }
  }
  return Object.fromEntries(EVENT_TYPES.map((t) => [t, summarise(samples[t])])) as Record<
    EventType,
    EventCost
  >;
}
