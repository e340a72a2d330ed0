/** Order statistics and rounding for the figures the harness reports. */

/** The q-quantile (0..1) by the nearest-rank method; NaN for an empty sample. */
export function quantile(sample: readonly number[], q: number): number {
  if (sample.length === 0) return NaN;
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

export function median(sample: readonly number[]): number {
  return quantile(sample, 0.5);
}

/** Rounds to `digits` significant decimals after the point (figures, not accounting). */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Wall-clock milliseconds since an arbitrary origin, sub-millisecond precision. */
export function nowMs(): number {
  return performance.now();
}
