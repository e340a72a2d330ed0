/**
 * `palisade watch`: the verdicts the kernel takes, live, with the policy and rule that took them,
 * from the agent's debug socket (/v1/verdicts, NDJSON). Lines are printed as events arrive, like
 * `kubectl get -w`; the stream goes on until interrupted (or --count events, or --no-follow).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { LOG_VERDICTS } from '../../../dataplane/verdict-log';
import { parseDuration } from '../../daemon/duration';
import type { VerdictEvent } from '../../daemon/verdicts/event';
import { contextOf } from '../context';
import { verdictHeader, verdictLine } from '../format/verdict-text';
import { agentOption, AgentClient } from '../live/client';

interface WatchOptions {
  agent: string;
  pod?: string;
  namespace?: string;
  verdict?: string[];
  since?: string;
  output: 'table' | 'json';
  count?: number;
  follow: boolean;
}

const EXAMPLES = `
Examples:
  # every verdict the kernel logs on this node, as it happens
  $ palisade watch
  # why is shop/cart blocked? denials that involve it, from the last five minutes on
  $ palisade watch --pod shop/cart --verdict denied --since 5m
  # what an audit-mode policy would break before it is enforced
  $ palisade watch --verdict would-deny
  # on a cluster: the agent of one node
  $ kubectl palisade watch --node worker-1 --namespace shop
  # scripts: one JSON object per line
  $ palisade watch -o json --count 100 | jq -r '.policy.key // .policies[0]'

Every drop is logged; allowed connections (their first packet) when the agent runs with
--verdict-log all; audit-mode policies (palisade.io/enforcement: audit) as would-deny and
would-allow. The kernel limits logging per node (--verdict-log-rate, --verdict-log-burst): what it
could not log, and what a slow watcher missed, is counted in \`palisade status\` and in
palisade_verdict_events_lost_total. Exit status: 0 when the stream ends, 1 when the agent cannot
be reached, 2 for a bad flag.
`;

const POD = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function parsePod(text: string): string {
  if (!POD.test(text.trim())) throw new InvalidArgumentError(`"${text}" is not NAMESPACE/POD`);
  return text.trim();
}

function collectVerdict(text: string, acc: string[] | undefined): string[] {
  for (const v of text.split(',')) {
    if (!(LOG_VERDICTS as readonly string[]).includes(v))
      throw new InvalidArgumentError(`"${v}" is not one of ${LOG_VERDICTS.join(', ')}`);
  }
  return [...(acc ?? []), ...text.split(',')];
}

function parseSince(text: string): string {
  if (parseDuration(text) === undefined)
    throw new InvalidArgumentError(`"${text}" is not a duration (e.g. 30s, 5m, 1h)`);
  return text;
}

function parseCount(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`"${text}" is not a positive whole number`);
  return n;
}

export function register(program: Command): void {
  program
    .command('watch')
    .description('stream the verdicts the kernel takes, with the tier, policy and rule that took each')
    .option('--pod <namespace/pod>', 'only connections from or to this pod', parsePod)
    .option('-n, --namespace <namespace>', 'only connections from or to pods of this namespace')
    .option(
      '--verdict <verdict>',
      `only these verdicts (${LOG_VERDICTS.join(', ')}; repeatable)`,
      collectVerdict,
    )
    .option('--since <duration>', 'start with the buffered events this far back (e.g. 5m)', parseSince)
    .option('--count <n>', 'stop after this many events', parseCount)
    .option('--no-follow', 'print the buffered events (with --since) and stop')
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'),
    )
    .addOption(agentOption())
    .addHelpText('after', EXAMPLES)
    .action(async (opts: WatchOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const client = new AgentClient(opts.agent);
      let printed = 0;
      let header = false;
      await client.stream(
        '/v1/verdicts',
        {
          pod: opts.pod,
          namespace: opts.namespace,
          verdict: opts.verdict?.join(','),
          since: opts.since,
          follow: opts.follow ? undefined : '0',
        },
        (doc) => {
          switch (doc.type) {
            case 'hello': {
              const capture = doc.capture as { state?: string; lastError?: string } | undefined;
              if (capture && capture.state !== 'running') {
                ctx.stderr(
                  `palisade: verdict logs on ${String(doc.node)} are ${capture.state}${capture.lastError ? `: ${capture.lastError}` : ''}\n`,
                );
              }
              if (opts.output === 'table' && !header) {
                ctx.stdout(verdictHeader());
                header = true;
              }
              return;
            }
            case 'lost':
              if (opts.output === 'json') ctx.stdout(`${JSON.stringify(doc)}\n`);
              else
                ctx.stderr(
                  `palisade: ${String(doc.count)} events lost: this watch fell behind (${String(doc.reason)})\n`,
                );
              return;
            case 'verdict': {
              const { type: _type, ...event } = doc;
              ctx.stdout(
                opts.output === 'json'
                  ? `${JSON.stringify(event)}\n`
                  : verdictLine(event as unknown as VerdictEvent),
              );
              printed++;
              return opts.count !== undefined && printed >= opts.count ? 'stop' : undefined;
            }
            default:
              return;
          }
        },
      );
    });
}
