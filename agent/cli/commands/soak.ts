/**
 * `palisade soak`: a live sandbox under continuous churn and injected faults for N minutes, real
 * packets checked against `analyze` of the API state all along (e2e/soak/soak.ts). Prints the
 * report (JSON with -o json, else a summary), writes it to --out, and exits 1 when any probe
 * disagreed outside the transition window, a fault was not recovered from, or a write was not
 * applied within 60 s.
 *
 *   sudo palisade soak --minutes 30 --topology routed --out soak.json
 *   sudo palisade soak --minutes 30 --agent-arg=--backend=nftables
 */
import { writeFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { preflight } from '../../../e2e/sandbox/preflight';
import type { Topology } from '../../../e2e/sandbox/plan';
import { FAULT_KINDS, type FaultKind } from '../../../e2e/soak/faults';
import { runSoak, type SoakReport } from '../../../e2e/soak/soak';
import { contextOf } from '../context';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from '../errors';

function positive(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

function faultKinds(text: string): FaultKind[] {
  const kinds = text.split(',').filter((k) => k !== '');
  const unknown = kinds.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
  if (kinds.length === 0 || unknown.length > 0)
    throw new InvalidArgumentError(
      `not fault kinds: ${unknown.join(', ') || '(none)'}; kinds: ${FAULT_KINDS.join(', ')}`,
    );
  return kinds as FaultKind[];
}

export function summary(r: SoakReport): string {
  const out = r.outsideWindow;
  const kv = (m: Readonly<Record<string, number>>): string =>
    Object.entries(m)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none';
  const ms = (v: number | null): string => (v === null ? '-' : `${v} ms`);
  const e2e = r.eventToEnforcement;
  const skipped = Object.entries(r.faultsSkipped).map(([k, v]) => `${k} ${v.count} (${v.reason})`);
  return [
    `soak (${r.topology}, ${r.minutes} min): ${r.rounds} rounds, ${r.probes} probes`,
    r.window.mode === 'measured'
      ? `window: measured, max(p99, ${r.window.floorMs} ms floor) = ${r.windowMs} ms at the end (rounds judged with ${r.window.minUsedMs}-${r.window.maxUsedMs} ms)`
      : `window: fixed at ${r.windowMs} ms (--window)`,
    `event-to-enforcement (churn write answered -> every agent applied, polled every 25 ms): ${e2e.samples} writes, p50 ${ms(e2e.p50Ms)}, p99 ${ms(e2e.p99Ms)}, max ${ms(e2e.maxMs)}` +
      ` (${e2e.excludedDuringFaults} left out during faults, ${e2e.notApplied} not applied within 60 s)` +
      (e2e.slowest.length > 0
        ? `; slowest: ${e2e.slowest.map((x) => `${x.kind} ${x.ms} ms`).join(', ')}`
        : ''),
    `outside the window: ${out.deniedDelivered} denied packets delivered, ${out.allowedDropped} allowed packets dropped`,
    `inside the window: ${r.disagreementsInsideWindow}`,
    `churn: ${kv(r.churn)}`,
    `faults injected: ${kv(r.faults)}`,
    `faults skipped: ${skipped.length > 0 ? skipped.join(', ') : 'none'}`,
    ...Object.entries(r.faultKinds)
      .filter(([, k]) => k.injected > 0)
      .map(
        ([kind, k]) =>
          `  ${kind}: ${k.injected} injected, ${k.effective} took effect, recovery p50 ${ms(k.recoveryP50Ms)} max ${ms(k.recoveryMaxMs)}${k.notRecovered > 0 ? `, ${k.notRecovered} NOT recovered` : ''}`,
      ),
    ...r.agents.map((a) => {
      const mb = (kb: number | null): string => (kb === null ? '-' : `${Math.round(kb / 1024)}`);
      const longest = a.longestLived
        ? `; longest-lived process ${a.longestLived.minutes} min: ${mb(a.longestLived.firstKb)} -> ${mb(a.longestLived.lastKb)} MB (max ${mb(a.longestLived.maxKb)})`
        : '';
      return (
        `agent ${a.node}: RSS ${a.rssStartKb ?? '?'} kB at start, ${a.rssEndKb ?? '?'} kB at end, ${a.restarts} restarts; ` +
        `peak by sixth of the run ${a.rssPeakBySixthKb.map(mb).join(' / ')} MB${longest}`
      );
    }),
    ...out.examples.map((e) => `  ${e.at} ${e.cell}: ${e.probe} (${e.detail})`),
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('soak')
    .description(
      'run a live sandbox under churn and faults, probing real packets against analyze of the API state; exit 1 on any disagreement outside the transition window, a fault not recovered from or a write not applied',
    )
    .option('--minutes <n>', 'how long', positive, 2)
    .addOption(
      new Option('-t, --topology <topology>', 'pod wiring').choices(['routed', 'bridge']).default('routed'),
    )
    .option(
      '--window <ms>',
      'fixed transition window: how long a change excuses the cells it affects (default: the measured event-to-enforcement p99, at least --window-floor)',
      positive,
    )
    .option('--window-floor <ms>', 'the least the measured window can be', positive, 1000)
    .option('--fault-every <ms>', 'one fault this often, the kinds in turn', positive, 15_000)
    .option(
      '--faults <kinds>',
      `the fault kinds to inject, comma-separated (default all: ${FAULT_KINDS.join(',')})`,
      faultKinds,
    )
    .option('--out <file>', 'write the JSON report here')
    .option(
      '--agent-arg <arg>',
      'extra argument for every `palisade agent`, repeatable',
      (text: string, acc: string[] | undefined) => [...(acc ?? []), text],
    )
    .option('--keep-on-failure', 'leave the sandbox up when a probe disagreed outside the window')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(
      async (
        opts: {
          minutes: number;
          topology: Topology;
          window?: number;
          windowFloor: number;
          faultEvery: number;
          faults?: FaultKind[];
          out?: string;
          keepOnFailure?: boolean;
          agentArg?: string[];
          output: 'text' | 'json';
        },
        cmd: Command,
      ) => {
        const ctx = contextOf(cmd);
        const problem = await preflight({
          topology: opts.topology,
          commandLine: ['palisade', ...process.argv.slice(2)].join(' '),
        });
        if (problem) throw new CliError(problem, EXIT_USAGE);
        const abort = new AbortController();
        const stop = (): void => abort.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          const report = await runSoak({
            minutes: opts.minutes,
            topology: opts.topology,
            ...(opts.window !== undefined ? { windowMs: opts.window } : {}),
            windowFloorMs: opts.windowFloor,
            faultEveryMs: opts.faultEvery,
            ...(opts.faults ? { faultKinds: opts.faults } : {}),
            keepOnFailure: opts.keepOnFailure === true,
            agentArgs: opts.agentArg ?? [],
            signal: abort.signal,
            log: (line) => ctx.stderr(`${line}\n`),
          });
          const json = JSON.stringify(report, null, 2);
          if (opts.out) writeFileSync(opts.out, `${json}\n`);
          ctx.stdout(opts.output === 'json' ? `${json}\n` : `${summary(report)}\n`);
          const notRecovered = Object.values(report.faultKinds).reduce((n, k) => n + k.notRecovered, 0);
          if (
            report.outsideWindow.deniedDelivered + report.outsideWindow.allowedDropped > 0 ||
            notRecovered > 0 ||
            report.eventToEnforcement.notApplied > 0
          )
            throw new CliError('', EXIT_FAILURE);
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      },
    );
}
