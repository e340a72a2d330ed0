/**
 * The reachability matrix as text, in the style of the upstream NetworkPolicy e2e truth
 * tables: one block per probe, rows are sources, columns destinations, "." allowed,
 * "X" denied, "-" no cell (an endpoint to itself, or between two external addresses).
 */
import type { AnalyzeResult } from '../analysis';
import { palette } from './colour';
import { renderTable } from './table';

export const ALLOWED_MARK = '.';
export const DENIED_MARK = 'X';
export const NO_CELL_MARK = '-';

export function renderMatrix(r: AnalyzeResult, colour: boolean): string {
  const c = palette(colour);
  const blocks: string[] = [];
  for (const m of r.probes) {
    let allowed = 0;
    let total = 0;
    const rows: string[][] = [[c.bold('from \\ to'), ...r.pods.map((p) => c.bold(p))]];
    for (const from of r.pods) {
      const row = [c.bold(from)];
      for (const to of r.pods) {
        const v = m.allowed[from]?.[to];
        if (v === undefined) row.push(c.dim(NO_CELL_MARK));
        else {
          total++;
          if (v) allowed++;
          row.push(v ? c.green(ALLOWED_MARK) : c.red(DENIED_MARK));
        }
      }
      rows.push(row);
    }
    const header = `${m.port}/${m.protocol}: ${allowed} of ${total} allowed (${ALLOWED_MARK} allowed, ${DENIED_MARK} denied, rows from, columns to)`;
    blocks.push(`${c.bold(header)}\n${renderTable(rows)}\n`);
  }
  return blocks.join('\n');
}
