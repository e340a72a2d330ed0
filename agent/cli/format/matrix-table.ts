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
    blocks.push(`${c.bold(header)}\n${renderTable(rows)}\n${auditText(r, m)}`);
  }
  return blocks.join('\n');
}

/** The cells audit-mode policies would change if they were enforced, under the matrix. */
function auditText(r: AnalyzeResult, m: AnalyzeResult['probes'][number]): string {
  if (!m.audited) return '';
  const wouldDeny: string[] = [];
  const wouldAllow: string[] = [];
  for (const from of r.pods) {
    for (const to of r.pods) {
      const enforced = m.allowed[from]?.[to];
      const audited = m.audited[from]?.[to];
      if (enforced === undefined || audited === undefined || enforced === audited) continue;
      (enforced ? wouldDeny : wouldAllow).push(`${from} -> ${to}`);
    }
  }
  const lines = [
    `audit-mode policies, if enforced: ${wouldDeny.length} would be denied, ${wouldAllow.length} allowed`,
  ];
  if (wouldDeny.length) lines.push(`  would deny:  ${wouldDeny.join(', ')}`);
  if (wouldAllow.length) lines.push(`  would allow: ${wouldAllow.join(', ')}`);
  return `${lines.join('\n')}\n`;
}
