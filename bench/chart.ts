/**
 * The chart of BENCHMARKS.md: per-event cost against cluster size, both sync modes, drawn as
 * plain SVG by this file (no chart service, no dependency). Two log-log panels per backend (one
 * row each: iptables, nftables): wall time per event (event in to kernel updated, median) and
 * kernel input bytes per event. Incremental is drawn solid, the full baseline dashed; one colour
 * per event type.
 */
import { EVENT_TYPES, type EventType } from './events';
import type { SizeReport } from './report';
import type { EventCost } from './single-events';

const COLORS: Record<EventType, string> = {
  podAdd: '#1f77b4',
  podDelete: '#17becf',
  podRelabel: '#d62728',
  namespaceRelabel: '#9467bd',
  policyAdd: '#2ca02c',
  policyChange: '#ff7f0e',
  policyDelete: '#8c564b',
  cnpAdd: '#bcbd22',
  cnpChange: '#e377c2',
  cnpDelete: '#7f7f7f',
};

interface Panel {
  readonly title: string;
  readonly unit: string;
  readonly value: (r: SizeReport, mode: 'incremental' | 'full', t: EventType) => number;
}

const PANELS: readonly Panel[] = [
  {
    title: 'Wall time per event (median)',
    unit: 'ms',
    value: (r, m, t) => (r[m].events[t] as EventCost | undefined)?.totalMsMedian ?? NaN,
  },
  {
    title: 'Restore input per event',
    unit: 'bytes',
    value: (r, m, t) => (r[m].events[t] as EventCost | undefined)?.restoreBytes ?? NaN,
  },
];

const W = 460;
const H = 340;
const M = { left: 64, right: 16, top: 36, bottom: 46 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function logRange(values: readonly number[]): [number, number] {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  if (pos.length === 0) return [0, 1];
  return [Math.floor(Math.log10(Math.min(...pos))), Math.ceil(Math.log10(Math.max(...pos)))];
}

function fmtPow(e: number, unit: string): string {
  const v = 10 ** e;
  if (unit === 'bytes') return v >= 1e6 ? `${v / 1e6} MB` : v >= 1e3 ? `${v / 1e3} KB` : `${v} B`;
  return v >= 1000 ? `${v / 1000} s` : v >= 1 ? `${v} ms` : `${v} ms`;
}

function panel(reports: readonly SizeReport[], p: Panel, x0: number, row: string): string {
  const out: string[] = [];
  const pods = reports.map((r) => r.pods);
  const [xa, xb] = logRange(pods);
  const xLo = pods.length > 1 ? Math.log10(Math.min(...pods)) - 0.15 : xa;
  const xHi = pods.length > 1 ? Math.log10(Math.max(...pods)) + 0.15 : xb;
  const values = reports.flatMap((r) =>
    (['incremental', 'full'] as const).flatMap((m) => EVENT_TYPES.map((t) => p.value(r, m, t))),
  );
  const [ya, yb0] = logRange(values);
  const yb = yb0 === ya ? ya + 1 : yb0;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (v: number) => x0 + M.left + ((Math.log10(v) - xLo) / (xHi - xLo || 1)) * pw;
  const sy = (v: number) => M.top + ph - ((Math.log10(Math.max(v, 10 ** ya)) - ya) / (yb - ya)) * ph;
  out.push(
    `<text x="${x0 + W / 2}" y="20" text-anchor="middle" font-weight="bold">${esc(`${row}: ${p.title}`)}</text>`,
  );
  out.push(
    `<rect x="${x0 + M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999" stroke-width="1"/>`,
  );
  for (let e = ya; e <= yb; e++) {
    const y = sy(10 ** e);
    out.push(`<line x1="${x0 + M.left}" x2="${x0 + M.left + pw}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${x0 + M.left - 6}" y="${y + 4}" text-anchor="end">${esc(fmtPow(e, p.unit))}</text>`);
  }
  for (const r of reports) {
    const x = sx(r.pods);
    out.push(`<line x1="${x}" x2="${x}" y1="${M.top}" y2="${M.top + ph}" stroke="#e4e4e4"/>`);
    out.push(
      `<text x="${x}" y="${M.top + ph + 16}" text-anchor="middle">${esc(`${r.size} (${r.pods.toLocaleString('en-US')})`)}</text>`,
    );
  }
  out.push(
    `<text x="${x0 + M.left + pw / 2}" y="${H - 8}" text-anchor="middle">cluster size (pods, log scale)</text>`,
  );
  if (p.unit === 'ms') {
    // The cost of spawning one trivial ipset restore: no apply can be cheaper.
    const pts = reports.map((r) => `${sx(r.pods).toFixed(1)},${sy(r.floors.ipsetRestoreMs).toFixed(1)}`);
    out.push(
      `<polyline points="${pts.join(' ')}" fill="none" stroke="#777" stroke-width="1.5" stroke-dasharray="2 3"/>`,
    );
    const first = reports[0];
    out.push(
      `<text x="${sx(first.pods) + 4}" y="${sy(first.floors.ipsetRestoreMs) + 14}" fill="#555">` +
        `floor: one ipset restore spawn</text>`,
    );
  }
  for (const mode of ['incremental', 'full'] as const) {
    for (const t of EVENT_TYPES) {
      // Reports saved before an event type existed (milestone 1 had no ClusterNetworkPolicy
      // events) have no point for it.
      const pts = reports
        .filter((r) => Number.isFinite(p.value(r, mode, t)))
        .map((r) => [sx(r.pods), sy(p.value(r, mode, t))] as const)
        .map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`);
      const dash = mode === 'full' ? ' stroke-dasharray="6 4"' : '';
      out.push(
        `<polyline points="${pts.join(' ')}" fill="none" stroke="${COLORS[t]}" stroke-width="2"${dash}/>`,
      );
      for (const pt of pts) {
        const [x, y] = pt.split(',');
        out.push(`<circle cx="${x}" cy="${y}" r="3" fill="${COLORS[t]}"/>`);
      }
    }
  }
  return out.join('\n');
}

/** A report's row: its backend (reports saved before the nftables backend measured iptables). */
function rowOf(r: SizeReport): string {
  const backend = r.backend ?? 'iptables';
  return backend === 'iptables' && !r.ipsetSession ? 'iptables, no ipset session' : backend;
}

/** The SVG document for reports of one or more sizes (sorted by pods), a row per backend. */
export function renderChart(input: readonly SizeReport[]): string {
  const reports = [...input].sort((a, b) => a.pods - b.pods);
  const rows = [...new Set(reports.map(rowOf))].sort();
  const legendH = 44;
  const width = W * PANELS.length;
  const height = H * Math.max(1, rows.length) + legendH;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="sans-serif" font-size="11">`,
  );
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  rows.forEach((row, r) => {
    const of = reports.filter((rep) => rowOf(rep) === row);
    parts.push(`<g transform="translate(0,${r * H})">`);
    PANELS.forEach((p, i) => parts.push(panel(of, p, i * W, row)));
    parts.push('</g>');
  });
  let x = 12;
  const y = H * Math.max(1, rows.length) + 14;
  for (const t of EVENT_TYPES) {
    parts.push(`<line x1="${x}" x2="${x + 18}" y1="${y}" y2="${y}" stroke="${COLORS[t]}" stroke-width="3"/>`);
    parts.push(`<text x="${x + 22}" y="${y + 4}">${t}</text>`);
    x += 30 + t.length * 6.5;
  }
  parts.push(
    `<line x1="12" x2="40" y1="${y + 20}" y2="${y + 20}" stroke="#333" stroke-width="2"/>` +
      `<text x="44" y="${y + 24}">incremental</text>` +
      `<line x1="130" x2="158" y1="${y + 20}" y2="${y + 20}" stroke="#333" stroke-width="2" stroke-dasharray="6 4"/>` +
      `<text x="162" y="${y + 24}">full re-sync (kube-router-like baseline)</text>`,
  );
  const sizes = [...new Set(reports.map((r) => r.size))].join(', ');
  parts.push(
    `<text x="${width - 12}" y="${y + 24}" text-anchor="end" fill="#666">sizes: ${esc(sizes)}; seed ${reports[0]?.seed ?? ''}</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
