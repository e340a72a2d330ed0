/**
 * The reachability matrix, in exactly the JSON shape `palisade analyze` prints:
 *
 *   {"pods": ["x/a", ..., "203.0.113.10"],
 *    "probes": [{"port": 80, "protocol": "TCP", "allowed": {"x/a": {"x/b": true, ...}, ...}}]}
 *
 * Rows are sources, columns destinations; every ordered pair of distinct endpoints except
 * external → external. A pair is probed over each address family both ends have, and is
 * allowed only if every family's probe got through (a disagreement is reported separately).
 * Pure: `pairTrials` says what to probe, `assembleMatrix` turns outcomes into the matrix.
 */
import type { ProbeEndpoint } from './endpoints';
import { addressOf, probeLabel, type Family, type PlanProbe } from './plan';

export interface MatrixProbe {
  readonly port: number;
  readonly protocol: PlanProbe['protocol'];
  readonly allowed: Record<string, Record<string, boolean>>;
}

export interface ReachabilityMatrix {
  readonly pods: readonly string[];
  readonly probes: readonly MatrixProbe[];
}

/** One packet-level test: a probe from `src` to `dst` over one address family. */
export interface Trial {
  readonly probe: PlanProbe;
  readonly src: ProbeEndpoint;
  readonly dst: ProbeEndpoint;
  readonly family: Family;
  readonly srcIp: string;
  readonly dstIp: string;
}

export function trialKey(t: Pick<Trial, 'probe' | 'src' | 'dst' | 'family'>): string {
  return `${probeLabel(t.probe)} ${t.src.label} ${t.dst.label} v${t.family}`;
}

export interface PairPlan {
  readonly trials: Trial[];
  /** Pairs that share no address family: they cannot be probed and are left out of the matrix. */
  readonly unprobeable: { src: string; dst: string }[];
}

export function pairTrials(endpoints: readonly ProbeEndpoint[], probes: readonly PlanProbe[]): PairPlan {
  const trials: Trial[] = [];
  const unprobeable: { src: string; dst: string }[] = [];
  for (const src of endpoints) {
    for (const dst of endpoints) {
      if (src === dst || (src.kind === 'external' && dst.kind === 'external')) continue;
      const families = ([4, 6] as const).filter((f) => addressOf(src, f) && addressOf(dst, f));
      if (families.length === 0) {
        unprobeable.push({ src: src.label, dst: dst.label });
        continue;
      }
      for (const probe of probes) {
        for (const family of families) {
          trials.push({
            probe,
            src,
            dst,
            family,
            srcIp: addressOf(src, family)!,
            dstIp: addressOf(dst, family)!,
          });
        }
      }
    }
  }
  return { trials, unprobeable };
}

export interface FamilyDisagreement {
  readonly probe: string;
  readonly src: string;
  readonly dst: string;
  readonly ipv4: boolean;
  readonly ipv6: boolean;
}

export function assembleMatrix(
  endpoints: readonly ProbeEndpoint[],
  probes: readonly PlanProbe[],
  trials: readonly Trial[],
  passed: ReadonlySet<string>,
): { matrix: ReachabilityMatrix; disagreements: FamilyDisagreement[] } {
  const cells = new Map<string, Map<Family, boolean>>();
  for (const t of trials) {
    const cell = `${probeLabel(t.probe)} ${t.src.label} ${t.dst.label}`;
    if (!cells.has(cell)) cells.set(cell, new Map());
    cells.get(cell)!.set(t.family, passed.has(trialKey(t)));
  }
  const disagreements: FamilyDisagreement[] = [];
  const matrixProbes = probes.map((probe): MatrixProbe => {
    const allowed: Record<string, Record<string, boolean>> = {};
    for (const src of endpoints) {
      for (const dst of endpoints) {
        const byFamily = cells.get(`${probeLabel(probe)} ${src.label} ${dst.label}`);
        if (!byFamily) continue;
        const values = [...byFamily.values()];
        (allowed[src.label] ??= {})[dst.label] = values.every((v) => v);
        if (byFamily.size === 2 && byFamily.get(4) !== byFamily.get(6)) {
          disagreements.push({
            probe: probeLabel(probe),
            src: src.label,
            dst: dst.label,
            ipv4: byFamily.get(4)!,
            ipv6: byFamily.get(6)!,
          });
        }
      }
    }
    return { port: probe.port, protocol: probe.protocol, allowed };
  });
  return { matrix: { pods: endpoints.map((e) => e.label), probes: matrixProbes }, disagreements };
}

/** Cells where `actual` (probed) and `expected` (e.g. `palisade analyze`) differ, one line each. */
export function compareMatrices(actual: ReachabilityMatrix, expected: ReachabilityMatrix): string[] {
  const out: string[] = [];
  const word = (v: boolean | undefined): string => (v === undefined ? 'no cell' : v ? 'allowed' : 'denied');
  for (const e of expected.probes) {
    const label = `${e.port}/${e.protocol}`;
    const a = actual.probes.find((p) => p.port === e.port && p.protocol === e.protocol);
    if (!a) {
      out.push(`${label}: not probed`);
      continue;
    }
    const sources = new Set([...Object.keys(e.allowed), ...Object.keys(a.allowed)]);
    for (const src of sources) {
      const dsts = new Set([...Object.keys(e.allowed[src] ?? {}), ...Object.keys(a.allowed[src] ?? {})]);
      for (const dst of dsts) {
        const want = e.allowed[src]?.[dst];
        const got = a.allowed[src]?.[dst];
        if (want !== got) out.push(`${label} ${src} -> ${dst}: probe ${word(got)}, analyze ${word(want)}`);
      }
    }
  }
  return out;
}
