/**
 * Exponential backoff with jitter, for apply retries and watch reconnects.
 *
 * The n-th delay (n from 0) is min(initialMs * factor^n, maxMs), spread by ±jitter (a fraction)
 * so that many agents restarted together do not hit the API server in step. `reset()` after a
 * success starts over. `random` is injectable so tests get exact delays.
 */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Multiplier per failure; default 2. */
  readonly factor?: number;
  /** Relative spread of each delay, 0..1; default 0.2 (delay × [0.8, 1.2], never above maxMs). */
  readonly jitter?: number;
  readonly random?: () => number;
}

export class Backoff {
  private failures = 0;

  constructor(private readonly opts: BackoffOptions) {}

  /** The delay to wait before the next attempt; counts one more failure. */
  next(): number {
    const { initialMs, maxMs, factor = 2, jitter = 0.2, random = Math.random } = this.opts;
    const base = Math.min(initialMs * Math.pow(factor, this.failures), maxMs);
    this.failures++;
    const spread = base * jitter * (2 * random() - 1);
    return Math.max(0, Math.min(maxMs, Math.round(base + spread)));
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.failures;
  }

  reset(): void {
    this.failures = 0;
  }
}
