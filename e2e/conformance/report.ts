/**
 * Three matrices per case, one verdict: what real packets did (the sandbox's probes), what
 * `palisade analyze` computes, and what the case's expected.yaml says (written by hand). They
 * share analyze's JSON shape. `disagreements` lists every cell where any two differ (the
 * expectation covers the case's own endpoints; extra external hosts of a shared cluster are
 * checked against analyze only), and `describeDisagreements` prints them as a table plus
 * upstream-style truth tables, which is the whole failure message of a case. Pure.
 */
import { truthTable, type ExpectedMatrix } from '../cases';

export interface MatrixLike {
  readonly pods: readonly string[];
  readonly probes: readonly {
    readonly port: number;
    readonly protocol: string;
    readonly allowed: Readonly<Record<string, Readonly<Record<string, boolean>>>>;
  }[];
}

export interface CellDisagreement {
  readonly probe: string;
  readonly from: string;
  readonly to: string;
  /** undefined: the cell is outside the expectation (or missing from that matrix). */
  readonly expected: boolean | undefined;
  readonly probed: boolean | undefined;
  readonly analyze: boolean | undefined;
  /** Why the real probe failed ("timeout", "ECONNREFUSED", …), or "got through". */
  readonly detail: string;
}

function cell(m: MatrixLike | undefined, probe: string, from: string, to: string): boolean | undefined {
  const p = m?.probes.find((x) => `${x.port}/${x.protocol}` === probe);
  return p?.allowed[from]?.[to];
}

/** The matrix limited to `endpoints` (in that order). */
export function restrictMatrix(m: MatrixLike, endpoints: readonly string[]): ExpectedMatrix {
  const keep = new Set(endpoints);
  return {
    pods: m.pods.filter((e) => keep.has(e)),
    probes: m.probes.map((p) => {
      const allowed: Record<string, Record<string, boolean>> = {};
      for (const [from, row] of Object.entries(p.allowed)) {
        if (!keep.has(from)) continue;
        allowed[from] = Object.fromEntries(Object.entries(row).filter(([to]) => keep.has(to)));
      }
      return { port: p.port, protocol: p.protocol as ExpectedMatrix['probes'][number]['protocol'], allowed };
    }),
  };
}

export function disagreements(
  probed: MatrixLike,
  analyzed: MatrixLike,
  expected: MatrixLike | undefined,
  failures: ReadonlyMap<string, string> = new Map(),
): CellDisagreement[] {
  const out: CellDisagreement[] = [];
  const probes = [...new Set([...analyzed.probes, ...probed.probes].map((p) => `${p.port}/${p.protocol}`))];
  const endpoints = [...new Set([...analyzed.pods, ...probed.pods])];
  const inExpectation = new Set(expected?.pods ?? []);
  for (const probe of probes) {
    for (const from of endpoints) {
      for (const to of endpoints) {
        const a = cell(analyzed, probe, from, to);
        const p = cell(probed, probe, from, to);
        if (a === undefined && p === undefined) continue;
        const covered = inExpectation.has(from) && inExpectation.has(to);
        const e = covered ? cell(expected, probe, from, to) : undefined;
        const agree = a === p && (!covered || (e === a && e === p));
        if (agree) continue;
        const detail =
          failures.get(`${probe} ${from} ${to} v4`) ??
          failures.get(`${probe} ${from} ${to} v6`) ??
          (p ? 'got through' : '');
        out.push({ probe, from, to, expected: e, probed: p, analyze: a, detail });
      }
    }
  }
  return out;
}

function word(v: boolean | undefined): string {
  return v === undefined ? '-' : v ? 'allowed' : 'denied';
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => `  ${r.map((c, i) => c.padEnd(widths[i])).join('  ')}`.trimEnd()).join('\n');
}

/**
 * The failure message of a case: the disagreeing cells, then the truth table of each probe
 * that has one (expected.yaml's cells; `*X*` / `*.*` where real packets did otherwise).
 */
export function describeDisagreements(
  title: string,
  cells: readonly CellDisagreement[],
  expected: ExpectedMatrix | undefined,
  probedInExpectation: MatrixLike | undefined,
): string {
  const rows = [
    ['probe', 'from', 'to', 'expected', 'got', 'analyze', 'probe result'],
    ...cells.map((c) => [c.probe, c.from, c.to, word(c.expected), word(c.probed), word(c.analyze), c.detail]),
  ];
  const lines = [
    `${title}: ${cells.length} cell(s) disagree (got = real packets, analyze = palisade analyze, expected = expected.yaml)`,
    table(rows),
  ];
  if (expected && probedInExpectation) {
    const probes = new Set(cells.map((c) => c.probe));
    expected.probes.forEach((p, i) => {
      if (probes.has(`${p.port}/${p.protocol}`))
        lines.push('', truthTable(expected, probedInExpectation as ExpectedMatrix, i));
    });
  }
  return lines.join('\n');
}
