/**
 * The denied cells of a sandbox's probed matrix, each with the policy and rule its node's kernel
 * reported dropping it (the agents' verdict logs): what `palisade sandbox` and `sandbox probe`
 * print under the matrix.
 */
import type { DeniedCell } from '../../../e2e/sandbox/verdicts';
import { decidedBy } from './verdict-text';

export function kernelDenialsText(cells: readonly DeniedCell[]): string {
  if (cells.length === 0) return '';
  const rows: string[][] = [];
  for (const c of cells) {
    const cell = [`${c.probe.port}/${c.probe.protocol}`, `${c.from} -> ${c.to}`];
    const reports = [...new Set(c.events.map((e) => `${e.node}\t${e.direction}: ${decidedBy(e)}`))];
    if (reports.length === 0)
      rows.push([...cell, '-', 'not reported (over the log rate limit, or verdict logs off)']);
    for (const r of reports) rows.push([...cell, ...r.split('\t')]);
  }
  const header = ['PROBE', 'FROM -> TO', 'NODE', 'DROPPED BY (as the kernel reported it)'];
  const widths = header.slice(0, 3).map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string =>
    `${r
      .slice(0, 3)
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')}  ${r[3]}`.trimEnd();
  return `\nDenied cells:\n${[header, ...rows].map(line).join('\n')}\n`;
}
