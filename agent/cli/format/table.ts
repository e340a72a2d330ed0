/**
 * Aligned plain-text tables. Cells may carry ANSI colour codes: widths are measured on the
 * visible text, so colour never breaks alignment.
 */

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

export function visibleLength(s: string): number {
  return [...s.replace(ANSI, '')].length;
}

export interface TableOptions {
  /** Spaces between columns. */
  readonly gap?: number;
  /** Columns aligned right (by index). */
  readonly alignRight?: readonly number[];
}

/** Renders rows (the first is usually the header) as lines joined with "\n", trailing spaces trimmed. */
export function renderTable(rows: readonly (readonly string[])[], opts: TableOptions = {}): string {
  const gap = ' '.repeat(opts.gap ?? 2);
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(c))));
  return rows
    .map((r) =>
      r
        .map((c, i) => {
          const pad = ' '.repeat(widths[i] - visibleLength(c));
          return opts.alignRight?.includes(i) ? pad + c : c + pad;
        })
        .join(gap)
        .trimEnd(),
    )
    .join('\n');
}
