/** Times, durations and sizes as operators read them: "3m12s", "12s ago", "6.1 KiB", "130.8 ms". */

/** A duration in seconds, to the second: "0s", "45s", "3m12s", "2h05m", "3d04h". */
export function durationText(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** "12s ago (2026-01-02T03:04:05Z)" for an epoch-ms instant, relative to `now`. */
export function agoText(atMs: number, nowMs: number): string {
  const iso = new Date(atMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `${durationText((nowMs - atMs) / 1000)} ago (${iso})`;
}

export function millisText(ms: number): string {
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** "1 policy", "2 policies": a count with its noun. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
