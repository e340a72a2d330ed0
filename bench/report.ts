/**
 * The report of one size: both modes' results side by side, the full/incremental ratios, the
 * checks that make the figures trustworthy (no event lost, both kernels equal a from-scratch
 * render and each other), and the issue's targets with their measured values.
 */
import type { BackendKind } from '../dataplane/api';
import type { ChurnResult } from './churn';
import { EVENT_TYPES, type EventType } from './events';
import type { Floors } from './floors';
import type { ModeResult } from './run-mode';
import type { EventCost } from './single-events';
import type { SizeName } from './sizes';
import { round } from './stats';

export interface Machine {
  readonly nproc: number;
  readonly memoryGb: number;
  readonly kernel: string;
  readonly iptables: string;
  readonly ipset: string;
  /** `nft --version` (absent from reports saved before the nftables backend). */
  readonly nft?: string;
  readonly node: string;
  /** 1-minute load average before and after the size ran: the machine is shared, say how busy. */
  readonly loadAverage?: { readonly before: number; readonly after: number };
}

export interface ModeSummary {
  readonly coldStartMs: number;
  readonly coldStartKind: ModeResult['coldStartKind'];
  readonly peakRssMb: number;
  readonly heapMb: number;
  readonly rssLoadedMb: number;
  readonly loadMs: number;
  readonly coldStart: ModeResult['coldStart'];
  readonly kernel: ModeResult['kernel'];
  readonly events: Record<EventType, EventCost>;
  readonly churn: readonly ChurnResult[];
  readonly finalMatchesFromScratch: boolean;
  readonly finalDifferences: readonly string[];
  readonly dataplaneCounts: ModeResult['dataplaneCounts'];
  readonly kernelTimes: ModeResult['kernelTimes'];
  readonly durationMs: number;
}

export interface Ratio {
  readonly restoreBytes: number;
  readonly applyMs: number;
  /** Event in to kernel updated (compile + diff + apply). */
  readonly wallMs: number;
  readonly compileDiffMs: number;
}

export interface Target {
  readonly name: string;
  readonly size: SizeName;
  readonly value: number | string;
  readonly limit: string;
  readonly pass: boolean;
}

export interface SizeReport {
  /** The dataplane backend measured (absent from reports saved before nftables: iptables). */
  readonly backend: BackendKind;
  /** iptables: member changes through the ipset session (absent from older reports: false). */
  readonly ipsetSession?: boolean;
  readonly size: SizeName;
  readonly pods: number;
  readonly namespaces: number;
  readonly policies: number;
  readonly localPods: number;
  readonly seed: number;
  readonly kernelKind: ModeResult['kernelKind'];
  readonly floors: Floors;
  readonly incremental: ModeSummary;
  readonly full: ModeSummary;
  readonly ratios: Record<EventType, Ratio>;
  readonly checks: {
    /** Both runs ended with the same kernel state (read-backs equal). */
    readonly fullEqualsIncremental: boolean;
    readonly incrementalMatchesFromScratch: boolean;
    readonly fullMatchesFromScratch: boolean;
    readonly eventsLost: number;
    readonly stateDifferences: readonly string[];
  };
  readonly targets: readonly Target[];
  readonly machine: Machine;
  readonly command: string;
}

function summary(r: ModeResult): ModeSummary {
  return {
    coldStartMs: r.coldStartMs,
    coldStartKind: r.coldStartKind,
    peakRssMb: r.peakRssMb,
    heapMb: r.heapMb,
    rssLoadedMb: r.rssLoadedMb,
    loadMs: r.loadMs,
    coldStart: r.coldStart,
    kernel: r.kernel,
    events: r.events,
    churn: r.churn,
    finalMatchesFromScratch: r.final.matchesFromScratch,
    finalDifferences: r.final.differences,
    dataplaneCounts: r.dataplaneCounts,
    kernelTimes: r.kernelTimes,
    durationMs: r.durationMs,
  };
}

function ratio(a: number, b: number): number {
  if (b === 0) return a === 0 ? 1 : Infinity;
  return round(a / b, 1);
}

function ratios(inc: ModeResult, full: ModeResult): Record<EventType, Ratio> {
  return Object.fromEntries(
    EVENT_TYPES.map((t) => {
      const i = inc.events[t];
      const f = full.events[t];
      return [
        t,
        {
          restoreBytes: ratio(f.restoreBytes, i.restoreBytes),
          applyMs: ratio(f.applyMsMedian, i.applyMsMedian),
          wallMs: ratio(f.totalMsMedian, i.totalMsMedian),
          compileDiffMs: ratio(f.compileDiffMsMedian, i.compileDiffMsMedian),
        },
      ];
    }),
  ) as Record<EventType, Ratio>;
}

function targets(
  inc: ModeResult,
  rs: Record<EventType, Ratio>,
  floors: Floors,
  checks: SizeReport['checks'],
): Target[] {
  const size = inc.size;
  const nft = inc.backend === 'nftables';
  const relabel = inc.events.podRelabel;
  const churnAt = (rate: number) => inc.churn.find((c) => c.eventsPerSecond === rate);
  const out: Target[] = [];
  const add = (name: string, value: number | string, limit: string, pass: boolean) =>
    out.push({ name, size, value, limit, pass });
  add(
    'pod relabel: compile+diff median (ms)',
    relabel.compileDiffMsMedian,
    '< 1',
    relabel.compileDiffMsMedian < 1,
  );
  if (nft) {
    add(
      'pod relabel: nft lines / iptables lines / processes started',
      `${relabel.nftLines ?? 0} / ${relabel.iptablesLines} / ${relabel.spawnsMedian}`,
      'element changes in one transaction of the running session',
      (relabel.nftLines ?? 0) > 0 && relabel.iptablesLines === 0 && relabel.spawnsMedian === 0,
    );
    // The event targets for the nftables backend (at M; reported at every size).
    const slowestApply = Math.max(...EVENT_TYPES.map((t) => inc.events[t].applyMsMedian));
    const slowestTotal = Math.max(...EVENT_TYPES.map((t) => inc.events[t].totalMsMedian));
    add('apply median, slowest event type (ms)', slowestApply, '< 1 (at M)', slowestApply < 1);
    add(
      'total (compile+diff+apply) median, slowest event type (ms)',
      slowestTotal,
      '< 1.5 (at M)',
      slowestTotal < 1.5,
    );
  } else {
    const spawns = inc.ipsetSession ? 0 : 1;
    add(
      'pod relabel: ipset lines / iptables lines / processes started',
      `${relabel.ipsetLines} / ${relabel.iptablesLines} / ${relabel.spawnsMedian}`,
      inc.ipsetSession
        ? 'ipset lines through the running ipset session, 0 iptables lines'
        : 'one ipset restore, 0 iptables lines',
      relabel.ipsetLines > 0 && relabel.iptablesLines === 0 && relabel.spawnsMedian === spawns,
    );
    if (floors.ipsetRestoreMs > 0) {
      const r = round(relabel.totalMsMedian / floors.ipsetRestoreMs, 2);
      add('pod relabel: total (compile+diff+apply) / ipset-restore floor', r, '< 2', r < 2);
    }
  }
  add(
    'pod relabel: kernel input (bytes)',
    relabel.restoreBytes,
    '< 1024, flat across sizes',
    relabel.restoreBytes < 1024,
  );
  const coldLimit = nft && size === 'L' ? 1000 : 3000;
  add(
    `cold start, ${inc.coldStartKind} kernel (ms)`,
    inc.coldStartMs,
    `< ${coldLimit}`,
    inc.coldStartMs < coldLimit,
  );
  const latencyLimits: ReadonlyArray<readonly [number, number]> = nft
    ? [
        [1000, 10],
        [5000, 50],
      ]
    : [
        [200, 50],
        [1000, 100],
      ];
  for (const [rate, limit] of latencyLimits) {
    const c = churnAt(rate);
    if (c)
      add(`event-to-enforcement p99 at ${rate}/s (ms)`, c.latencyMsP99, `< ${limit}`, c.latencyMsP99 < limit);
  }
  add('events lost in churn', checks.eventsLost, '0', checks.eventsLost === 0);
  add(
    'final kernel = from-scratch render (incremental, full)',
    `${checks.incrementalMatchesFromScratch}, ${checks.fullMatchesFromScratch}`,
    'true, true',
    checks.incrementalMatchesFromScratch && checks.fullMatchesFromScratch,
  );
  add(
    'full baseline kernel = incremental kernel',
    String(checks.fullEqualsIncremental),
    'true',
    checks.fullEqualsIncremental,
  );
  const rssLimit = nft ? 300 : 400;
  add('peak RSS (MB)', inc.peakRssMb, `< ${rssLimit}`, inc.peakRssMb < rssLimit);
  add(
    'full/incremental kernel input bytes, pod relabel',
    rs.podRelabel.restoreBytes,
    '>= 100 (at M)',
    rs.podRelabel.restoreBytes >= 100,
  );
  const wallLimit = nft ? 100 : 20;
  add(
    'full/incremental wall time, pod relabel',
    rs.podRelabel.wallMs,
    `>= ${wallLimit} (at M)`,
    rs.podRelabel.wallMs >= wallLimit,
  );
  const minBytes = Math.min(...EVENT_TYPES.map((t) => rs[t].restoreBytes));
  const minWall = Math.min(...EVENT_TYPES.map((t) => rs[t].wallMs));
  add(
    'full/incremental kernel input bytes, least of all event types',
    minBytes,
    '>= 100 (at M)',
    minBytes >= 100,
  );
  add(
    'full/incremental wall time, least of all event types',
    minWall,
    `>= ${wallLimit} (at M)`,
    minWall >= wallLimit,
  );
  return out;
}

export function buildReport(
  inc: ModeResult,
  full: ModeResult,
  incState: string,
  fullState: string,
  machine: Machine,
  command: string,
  stateDifferences: readonly string[],
): SizeReport {
  const rs = ratios(inc, full);
  const eventsLost = [...inc.churn, ...full.churn].reduce((s, c) => s + c.lost, 0);
  const checks = {
    fullEqualsIncremental: incState === fullState,
    incrementalMatchesFromScratch: inc.final.matchesFromScratch,
    fullMatchesFromScratch: full.final.matchesFromScratch,
    eventsLost,
    stateDifferences,
  };
  return {
    backend: inc.backend,
    ipsetSession: inc.backend === 'iptables' && inc.ipsetSession,
    size: inc.size,
    pods: inc.pods,
    namespaces: inc.namespaces,
    policies: inc.policies,
    localPods: inc.localPods,
    seed: inc.seed,
    kernelKind: inc.kernelKind,
    floors: inc.floors,
    incremental: summary(inc),
    full: summary(full),
    ratios: rs,
    checks,
    targets: targets(inc, rs, inc.floors, checks),
    machine,
    command,
  };
}

// ---------------------------------------------------------------------------------------------
// The terminal table

function pad(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => pad(r, widths));
}

const f = (x: number, digits = 2): string => (Number.isFinite(x) ? String(round(x, digits)) : String(x));

export function formatReport(r: SizeReport): string {
  const out: string[] = [];
  out.push(
    `== ${r.size} ${r.backend ?? 'iptables'}${r.backend === 'iptables' && !r.ipsetSession ? ' (no ipset session)' : ''}: ${r.pods} pods, ${r.namespaces} namespaces, ${r.policies} policies, ` +
      `${r.localPods} on the node (kernel: ${r.kernelKind}, seed ${r.seed})`,
  );
  out.push(
    `floors: ipset restore ${r.floors.ipsetRestoreMs} ms, iptables-restore --noflush ${r.floors.iptablesRestoreMs} ms` +
      (r.floors.nft
        ? `; nft element add: session ${r.floors.nft.sessionAddElementMs} ms, process ${r.floors.nft.processAddElementMs} ms; ` +
          `rule replace: session ${r.floors.nft.sessionReplaceRuleMs} ms, process ${r.floors.nft.processReplaceRuleMs} ms`
        : ''),
  );
  const head = ['', 'incremental', 'full', 'full/incr'];
  const rows: string[][] = [head];
  rows.push([
    `cold start, ${r.incremental.coldStartKind} kernel (ms)`,
    f(r.incremental.coldStartMs, 1),
    f(r.full.coldStartMs, 1),
    '',
  ]);
  rows.push(['peak RSS (MB)', f(r.incremental.peakRssMb, 1), f(r.full.peakRssMb, 1), '']);
  rows.push(['heap, loaded (MB)', f(r.incremental.heapMb, 1), f(r.full.heapMb, 1), '']);
  const k = r.incremental.kernel;
  rows.push([
    r.backend === 'nftables'
      ? 'kernel rules/chains/sets+maps/elements'
      : 'kernel rules/chains/ipsets/members',
    `${k.rules}/${k.chains}/${k.ipsets}/${k.members}`,
    '',
    '',
  ]);
  out.push(...table(rows), '');

  const ev: string[][] = [
    [
      'per event (median)',
      'compile+diff ms',
      'apply ms',
      'total ms',
      'bytes',
      'lines',
      r.backend === 'nftables' ? 'nft lines' : 'ipt/ipset',
      'full total ms',
      'full bytes',
      'x bytes',
      'x wall',
    ],
  ];
  for (const t of EVENT_TYPES) {
    const i = r.incremental.events[t];
    const fu = r.full.events[t];
    ev.push([
      t,
      f(i.compileDiffMsMedian, 3),
      f(i.applyMsMedian),
      f(i.totalMsMedian),
      String(i.restoreBytes),
      String(i.restoreLines),
      r.backend === 'nftables' ? String(i.nftLines ?? 0) : `${i.iptablesLines}/${i.ipsetLines}`,
      f(fu.totalMsMedian, 1),
      String(fu.restoreBytes),
      f(r.ratios[t].restoreBytes, 0),
      f(r.ratios[t].wallMs, 1),
    ]);
  }
  out.push(...table(ev), '');

  const ch: string[][] = [['churn', 'mode', 'p50 ms', 'p99 ms', 'max ms', 'events', 'applies', 'lost']];
  for (const mode of ['incremental', 'full'] as const) {
    for (const c of r[mode].churn) {
      ch.push([
        `${c.eventsPerSecond}/s × ${c.seconds}s`,
        mode,
        f(c.latencyMsP50, 1),
        f(c.latencyMsP99, 1),
        f(c.latencyMsMax, 1),
        String(c.events),
        String(c.applies),
        String(c.lost),
      ]);
    }
  }
  out.push(...table(ch), '');
  out.push(
    `checks: full kernel = incremental kernel: ${r.checks.fullEqualsIncremental}; ` +
      `= from-scratch render: incremental ${r.checks.incrementalMatchesFromScratch}, full ${r.checks.fullMatchesFromScratch}; ` +
      `events lost: ${r.checks.eventsLost}`,
  );
  const tg: string[][] = [['target (' + r.size + ')', 'measured', 'limit', '']];
  for (const t of r.targets) tg.push([t.name, String(t.value), t.limit, t.pass ? 'ok' : 'MISSED']);
  out.push(...table(tg));
  return out.join('\n');
}
