/**
 * Events lost to the kernel's rate limit, from the two counters beside the node's bucket
 * (dataplane/verdict-log.ts): `seen` packets reached a log point, `logged` were handed to NFLOG,
 * so every increase of `seen - logged` is a verdict the kernel did not report.
 *
 * What it models: the increases this process observed, counter by counter
 * (`Dataplane.readLogCounters` keys each counter by the kernel object that holds it):
 * - the first reading is the baseline: counts an earlier agent left (adopted rules) are not ours;
 * - a key first seen later is an object created since (new rules, a new rate): counted from zero;
 * - a count that went down is its object created again (a table or chain rewritten): counted
 *   from zero again;
 * - a key missing from a reading (a family whose read failed) keeps its last count.
 * Lost = observed seen − observed logged, reported as a counter that never goes down: the two
 * counts are not read at one instant (a packet between the two rules is seen and not yet
 * logged), so a reading may overshoot by the packets in flight; the next reading makes up for it
 * and the counter moves only past its highest value.
 */
import type { LogCounterSample } from '../../../dataplane/api';

export interface RateLimitTotals {
  /** Packets that reached a log point, observed by this process. */
  readonly seen: number;
  /** Of them, those the bucket let through to NFLOG. */
  readonly logged: number;
  /** Lost to the rate limit (seen − logged, never decreasing). */
  readonly lost: number;
}

export class RateLimitTracker {
  private readonly last = new Map<string, number>();
  private baselined = false;
  private seen = 0;
  private logged = 0;
  private lost = 0;

  /** Folds in one reading; returns the events newly lost (never negative). */
  observe(samples: readonly LogCounterSample[]): number {
    for (const s of samples) {
      const prev = this.last.get(s.key);
      const increase =
        prev === undefined
          ? this.baselined
            ? s.packets
            : 0
          : s.packets >= prev
            ? s.packets - prev
            : s.packets;
      this.last.set(s.key, s.packets);
      if (s.role === 'seen') this.seen += increase;
      else this.logged += increase;
    }
    this.baselined = true;
    const lost = this.seen - this.logged;
    if (lost <= this.lost) return 0;
    const added = lost - this.lost;
    this.lost = lost;
    return added;
  }

  totals(): RateLimitTotals {
    return { seen: this.seen, logged: this.logged, lost: this.lost };
  }
}
