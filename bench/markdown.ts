/**
 * Markdown tables of the saved reports (bench/results/*.json), for BENCHMARKS.md, so the figures
 * there are copied by code from what the harness measured, never typed by hand:
 *
 *   npm run build && node dist/bench/markdown.js [--update BENCHMARKS.md] [--chart bench/chart.svg] [results-dir]
 *
 * With --update, the tables replace what lies between the FIGURES_START and FIGURES_END markers
 * of that file; the prose around them is left alone.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderChart } from './chart';
import { EVENT_TYPES } from './events';
import type { SizeReport } from './report';
import type { EventCost } from './single-events';

function load(dir: string): SizeReport[] {
  return (
    readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as SizeReport)
      // Only size reports (other benches save elsewhere, but an older layout may have left one here).
      .filter((r) => (r as Partial<SizeReport>).incremental !== undefined)
      .sort((a, b) => a.pods - b.pods || backendOf(a).localeCompare(backendOf(b)))
  );
}

/** Reports saved before the nftables backend have no `backend`: they measured iptables. */
export function backendOf(r: SizeReport): string {
  return r.backend ?? 'iptables';
}

/** A report's name in the tables: its size and backend. */
function label(r: SizeReport): string {
  return `${r.size} ${backendOf(r)}${backendOf(r) === 'iptables' && !r.ipsetSession ? ' (no ipset session)' : ''}`;
}

function row(cells: readonly (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}

function tableOf(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string[] {
  return [row(head), row(head.map(() => '---')), ...rows.map(row)];
}

export function markdown(reports: readonly SizeReport[]): string {
  const out: string[] = [];
  const m = reports[0]?.machine;
  if (m) {
    out.push(
      `Machine: ${m.nproc} CPUs, ${m.memoryGb} GB, Linux ${m.kernel}, ${m.iptables}, ${m.ipset}${m.nft ? `, ${m.nft}` : ''}, Node ${m.node}.`,
      '',
    );
  }
  out.push(
    ...tableOf(
      [
        'size, backend',
        'pods / ns / policies / local',
        'command',
        'load avg before→after',
        'ipset floor ms',
        'iptables floor ms',
        'rule-replace floor ms',
        'nft session / process: element add, rule replace ms',
      ],
      reports.map((r) => [
        label(r),
        `${r.pods} / ${r.namespaces} / ${r.policies} / ${r.localPods}`,
        `\`${r.command}\``,
        r.machine.loadAverage ? `${r.machine.loadAverage.before}→${r.machine.loadAverage.after}` : '',
        r.floors.ipsetRestoreMs,
        r.floors.iptablesRestoreMs,
        r.floors.iptablesReplaceRuleMs ?? '',
        r.floors.nft
          ? `${r.floors.nft.sessionAddElementMs} / ${r.floors.nft.processAddElementMs}, ` +
            `${r.floors.nft.sessionReplaceRuleMs} / ${r.floors.nft.processReplaceRuleMs}`
          : '',
      ]),
    ),
    '',
  );
  out.push('**Cluster loaded** (incremental | full):', '');
  out.push(
    ...tableOf(
      [
        'size, backend',
        'cold start ms',
        'load into model ms',
        'peak RSS MB',
        'heap MB',
        'rules',
        'chains',
        'ipsets',
        'members',
      ],
      reports.map((r) => [
        label(r),
        `${r.incremental.coldStartMs} \\| ${r.full.coldStartMs} (${r.incremental.coldStartKind ?? 'empty'} kernel)`,
        `${r.incremental.loadMs} \\| ${r.full.loadMs}`,
        `${r.incremental.peakRssMb} \\| ${r.full.peakRssMb}`,
        `${r.incremental.heapMb} \\| ${r.full.heapMb}`,
        r.incremental.kernel.rules,
        r.incremental.kernel.chains,
        r.incremental.kernel.ipsets,
        r.incremental.kernel.members,
      ]),
    ),
    '',
  );
  for (const r of reports) {
    out.push(
      `**Per event, ${label(r)}** (medians of ${r.incremental.events.podRelabel.repetitions} repetitions):`,
      '',
    );
    out.push(
      ...tableOf(
        [
          'event',
          'compile+diff ms',
          'apply ms',
          'total ms',
          'restore bytes',
          backendOf(r) === 'nftables' ? 'lines (nft)' : 'lines (iptables/ipset)',
          'full: total ms',
          'full: bytes',
          'full/incr bytes',
          'full/incr apply',
          'full/incr wall',
        ],
        // Reports saved before an event type existed (milestone 1: no ClusterNetworkPolicy) skip it.
        EVENT_TYPES.filter((t) => (r.incremental.events[t] as EventCost | undefined) !== undefined).map(
          (t) => {
            const i = r.incremental.events[t];
            const f = r.full.events[t];
            const x = r.ratios[t];
            return [
              t,
              i.compileDiffMsMedian,
              i.applyMsMedian,
              i.totalMsMedian,
              i.restoreBytes,
              backendOf(r) === 'nftables'
                ? `${i.restoreLines} (${i.nftLines ?? 0})`
                : `${i.restoreLines} (${i.iptablesLines}/${i.ipsetLines})`,
              f.totalMsMedian,
              f.restoreBytes,
              x.restoreBytes,
              x.applyMs,
              x.wallMs,
            ];
          },
        ),
      ),
      '',
    );
  }
  out.push('**Event-to-enforcement under churn** (through the agent SyncRunner):', '');
  out.push(
    ...tableOf(
      [
        'size, backend',
        'rate',
        'mode',
        'p50 ms',
        'p99 ms',
        'max ms',
        'events',
        'dropped unchanged',
        'applies',
        'lost',
        'final = from scratch',
      ],
      reports.flatMap((r) =>
        (['incremental', 'full'] as const).flatMap((mode) =>
          r[mode].churn.map((c) => [
            label(r),
            `${c.eventsPerSecond}/s × ${c.seconds} s`,
            mode,
            c.latencyMsP50,
            c.latencyMsP99,
            c.latencyMsMax,
            c.events,
            c.unchangedDropped,
            c.applies,
            c.lost,
            String(r[mode].finalMatchesFromScratch),
          ]),
        ),
      ),
    ),
    '',
  );
  out.push('**Targets**:', '');
  out.push(
    ...tableOf(
      ['size, backend', 'target', 'measured', 'limit', ''],
      reports.flatMap((r) =>
        r.targets.map((t) => [label(r), t.name, String(t.value), t.limit, t.pass ? 'met' : '**missed**']),
      ),
    ),
  );
  return `${out.join('\n')}\n`;
}

export const FIGURES_START = '<!-- figures:start (generated by bench/markdown.ts) -->';
export const FIGURES_END = '<!-- figures:end -->';

/** `doc` with the text between the markers replaced by `figures`. */
export function replaceFigures(doc: string, figures: string): string {
  const a = doc.indexOf(FIGURES_START);
  const b = doc.indexOf(FIGURES_END);
  if (a < 0 || b < a) throw new Error(`markers ${FIGURES_START} … ${FIGURES_END} not found`);
  return `${doc.slice(0, a + FIGURES_START.length)}\n\n${figures}\n${doc.slice(b)}`;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const u = args.indexOf('--update');
  const target = u >= 0 ? args.splice(u, 2)[1] : undefined;
  const c = args.indexOf('--chart');
  const chart = c >= 0 ? args.splice(c, 2)[1] : undefined;
  const dir = resolve(args[0] ?? join(__dirname, '..', '..', 'bench', 'results'));
  const reports = load(dir);
  const figures = markdown(reports);
  if (chart) writeFileSync(chart, renderChart(reports.filter((r) => r.size !== 'tiny')));
  if (target) writeFileSync(target, replaceFigures(readFileSync(target, 'utf8'), figures));
  else process.stdout.write(figures);
}
