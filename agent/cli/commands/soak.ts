/**
 * `palisade soak`: a live sandbox under continuous churn and injected faults for N minutes, real
 * packets checked against `analyze` of the API state all along (e2e/soak/soak.ts). Prints the
 * report (JSON with -o json, else a summary), writes it to --out, and exits 1 when any probe
 * disagreed outside the transition window.
 *
 *   sudo palisade soak --minutes 30 --topology routed --out soak.json
 *   sudo palisade soak --minutes 30 --agent-arg=--backend=nftables   (once the agent has --backend)
 */
import { writeFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { preflight } from '../../../e2e/sandbox/preflight';
import type { Topology } from '../../../e2e/sandbox/plan';
import { runSoak, type SoakReport } from '../../../e2e/soak/soak';
import { contextOf } from '../context';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from '../errors';

function positive(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

export function summary(r: SoakReport): string {
  const out = r.outsideWindow;
  const kv = (m: Readonly<Record<string, number>>): string =>
    Object.entries(m)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none';
  return [
    `soak (${r.topology}, ${r.minutes} min, window ${r.windowMs} ms): ${r.rounds} rounds, ${r.probes} probes`,
    `outside the window: ${out.deniedDelivered} denied packets delivered, ${out.allowedDropped} allowed packets dropped`,
    `inside the window: ${r.disagreementsInsideWindow}`,
    `churn: ${kv(r.churn)}`,
    `faults: ${kv(r.faults)}${Object.keys(r.faultsSkipped).length > 0 ? ` (skipped: ${kv(r.faultsSkipped)})` : ''}`,
    ...r.agents.map(
      (a) =>
        `agent ${a.node}: RSS ${a.rssStartKb ?? '?'} kB at start, ${a.rssEndKb ?? '?'} kB at end, ${a.restarts} restarts`,
    ),
    ...out.examples.map((e) => `  ${e.at} ${e.cell}: ${e.probe} (${e.detail})`),
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('soak')
    .description(
      'run a live sandbox under churn and faults, probing real packets against analyze of the API state; exit 1 on any disagreement outside the transition window',
    )
    .option('--minutes <n>', 'how long', positive, 2)
    .addOption(
      new Option('-t, --topology <topology>', 'pod wiring').choices(['routed', 'bridge']).default('routed'),
    )
    .option(
      '--window <ms>',
      'transition window: how long a change excuses the cells it affects',
      positive,
      5000,
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
          window: number;
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
            windowMs: opts.window,
            keepOnFailure: opts.keepOnFailure === true,
            agentArgs: opts.agentArg ?? [],
            signal: abort.signal,
            log: (line) => ctx.stderr(`${line}\n`),
          });
          const json = JSON.stringify(report, null, 2);
          if (opts.out) writeFileSync(opts.out, `${json}\n`);
          ctx.stdout(opts.output === 'json' ? `${json}\n` : `${summary(report)}\n`);
          if (report.outsideWindow.deniedDelivered + report.outsideWindow.allowedDropped > 0)
            throw new CliError('', EXIT_FAILURE);
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      },
    );
}
