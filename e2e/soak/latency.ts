/**
 * Event-to-enforcement as the soak measures it, and the transition window it gives.
 *
 * A sample is the time from a churn write's answer (the API server has stored it) to the moment
 * every agent that was not under a fault reported it applied (agent-status.ts: its watch is at
 * the write's resourceVersion and nothing is pending), read by polling the agents' status, so a
 * sample is late by at most the polling interval. Agents under a fault during the measurement
 * are left out of it (their cells are excused by the fault until it is over); a write every
 * agent was faulted for gives no sample.
 *
 * The window is max(p99 of the samples so far, a floor), unless fixed by `--window`; the soak
 * counts the writes still waiting in that p99 with the time they have waited (`percentileWith`).
 * Pure.
 */
import type { Scope } from './transitions';

/** Nearest-rank percentile of ascending `sorted`; undefined when empty. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export interface LatencySummary {
  readonly samples: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
}

export class LatencyRecorder {
  private readonly sorted: number[] = [];

  record(ms: number): void {
    const v = Math.max(0, Math.round(ms));
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sorted[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    this.sorted.splice(lo, 0, v);
  }

  get count(): number {
    return this.sorted.length;
  }

  percentile(p: number): number | undefined {
    return percentile(this.sorted, p);
  }

  /** The percentile of the samples together with `extra` ones (not recorded). */
  percentileWith(p: number, extra: readonly number[]): number | undefined {
    if (extra.length === 0) return this.percentile(p);
    const more = [...extra].sort((a, b) => a - b);
    const merged: number[] = [];
    let i = 0;
    let j = 0;
    while (i < this.sorted.length || j < more.length)
      merged.push(
        j >= more.length || (i < this.sorted.length && this.sorted[i] <= more[j])
          ? this.sorted[i++]
          : more[j++],
      );
    return percentile(merged, p);
  }

  summary(): LatencySummary {
    return {
      samples: this.sorted.length,
      p50Ms: this.percentile(50) ?? null,
      p99Ms: this.percentile(99) ?? null,
      maxMs: this.sorted[this.sorted.length - 1] ?? null,
    };
  }
}

/** The transition window: `fixedMs` when given, else max(measured p99, floor). */
export function transitionWindow(
  fixedMs: number | undefined,
  floorMs: number,
  p99Ms: number | undefined,
): number {
  if (fixedMs !== undefined) return fixedMs;
  return Math.max(floorMs, p99Ms ?? 0);
}

interface Span {
  readonly scope: Scope;
  readonly start: number;
  end: number;
}

/** When faults were going on, and where: which agents a latency sample must leave out. */
export class FaultSpans {
  private readonly spans: Span[] = [];

  /** A fault from `at` on `scope` (a node, or all); call the result with its end. */
  begin(scope: Scope, at: number): (end: number) => void {
    const span: Span = { scope, start: at, end: Infinity };
    this.spans.push(span);
    return (end) => {
      span.end = end;
    };
  }

  /** A fault touched `node`'s agent at some time in [from, to]. */
  touched(node: string, from: number, to: number): boolean {
    return this.spans.some(
      (s) =>
        s.start <= to &&
        s.end >= from &&
        (s.scope.kind === 'all' || (s.scope.kind === 'node' && s.scope.name === node)),
    );
  }

  /** Forget spans that ended before `before`. */
  prune(before: number): void {
    for (let i = this.spans.length - 1; i >= 0; i--) if (this.spans[i].end < before) this.spans.splice(i, 1);
  }
}
