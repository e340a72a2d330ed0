/**
 * The agents' memory over a soak, from RSS samples taken every few seconds. Start and end RSS
 * alone cannot show a leak: agents are killed and restarted during the run (agentKill), so the
 * two figures can belong to different processes, one of them just started. These summaries say
 * whether memory climbs across the run (the peak of each equal period) and within one process
 * (the longest-lived one, first and last sample).
 */

export interface RssSample {
  /** Since the run began. */
  readonly atMs: number;
  readonly pid: number;
  readonly kb: number;
}

export interface Incarnation {
  readonly pid: number;
  readonly fromMs: number;
  readonly toMs: number;
  readonly firstKb: number;
  readonly lastKb: number;
  readonly maxKb: number;
  readonly samples: number;
}

/** The highest sample in each of `parts` equal periods of [0, runMs); null where none fell. */
export function peakByPeriod(samples: readonly RssSample[], runMs: number, parts: number): (number | null)[] {
  const peaks: (number | null)[] = new Array<number | null>(parts).fill(null);
  if (runMs <= 0) return peaks;
  for (const s of samples) {
    const i = Math.min(parts - 1, Math.max(0, Math.floor((s.atMs / runMs) * parts)));
    peaks[i] = Math.max(peaks[i] ?? 0, s.kb);
  }
  return peaks;
}

/** Each process's samples, in the order the processes appeared. */
export function incarnations(samples: readonly RssSample[]): Incarnation[] {
  const byPid = new Map<number, RssSample[]>();
  for (const s of [...samples].sort((a, b) => a.atMs - b.atMs)) {
    const list = byPid.get(s.pid) ?? [];
    list.push(s);
    byPid.set(s.pid, list);
  }
  return [...byPid].map(([pid, list]) => ({
    pid,
    fromMs: list[0].atMs,
    toMs: list[list.length - 1].atMs,
    firstKb: list[0].kb,
    lastKb: list[list.length - 1].kb,
    maxKb: Math.max(...list.map((s) => s.kb)),
    samples: list.length,
  }));
}

/** The process sampled over the longest time; undefined without samples. */
export function longestLived(samples: readonly RssSample[]): Incarnation | undefined {
  let best: Incarnation | undefined;
  for (const i of incarnations(samples)) if (!best || i.toMs - i.fromMs > best.toMs - best.fromMs) best = i;
  return best;
}
