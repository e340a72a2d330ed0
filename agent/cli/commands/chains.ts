/**
 * `palisade chains [CHAIN] [--family 4|6] [--policy NS/NAME]`: Palisade's own iptables chains
 * (filter table) and hook rules as the kernel holds them, each with the policy or pod it was
 * rendered from and whether it matches the desired state; with CHAIN, its rules one by one.
 */
import { Option, type Command } from 'commander';
import type { IPFamily } from '../../../dataplane/api';
import { contextOf, useColour } from '../context';
import { InputError } from '../errors';
import { palette, type Palette } from '../format/colour';
import { outputOption, toJSON, type OutputFormat } from '../format/output';
import { plural } from '../format/quantities';
import { renderTable } from '../format/table';
import { agentOption, AgentClient } from '../live/client';
import type { StatusDoc } from '../live/documents';
import { inventory, type ChainRow, type HookRow } from '../live/inventory';
import { familyText, isPolicyChain } from '../live/kernel-objects';

interface ChainsOptions {
  agent: string;
  output: OutputFormat;
  family?: string;
  policy?: string;
}

const EXAMPLES = `
Examples:
  $ palisade chains
  $ palisade chains --policy default/access-nginx
  $ palisade chains PALISADE-WI-nginx-BAE2JLWV
  $ palisade chains --family 4 -o json | jq '.chains[] | {name, owner, state}'

FROM is the policy (PALISADE-PI/PE-* chains: NAMESPACE/NAME), the ClusterNetworkPolicy
(PALISADE-CI/CE-* chains: its NAME) or the pod (PALISADE-WI/WE-* chains) a chain was rendered from; KIND is the dataplane's
word for the chain, shown as it comes; the others are Palisade's fixed and dispatch chains
(see dataplane/README.md).
STATE compares the kernel with the agent's desired state ("missing": desired, not in the
kernel; "not desired": in the kernel only; "differs": other rules). Rule numbers are those of
\`iptables -L CHAIN --line-numbers\`.
Exit status: 0 on success, 2 for an unknown chain, 1 when the agent cannot be reached.
`;

export function familyOption(): Option {
  return new Option('--family <family>', 'only IPv4 (4) or IPv6 (6) objects').choices(['4', '6']);
}

export function stateText(state: string, c: Palette): string {
  return state === 'in sync' ? state : c.red(state);
}

function origin(ch: ChainRow): string {
  return ch.owner ?? 'palisade';
}

function renderHooks(hooks: readonly HookRow[], c: Palette): string {
  return renderTable([
    ['HOOK', 'FAMILY', 'POSITION', 'TARGET', 'STATE'].map((h) => c.bold(h)),
    ...hooks.map((h) => [
      h.builtin,
      familyText(h.family),
      h.position === null ? '-' : String(h.position),
      h.target,
      stateText(h.state, c),
    ]),
  ]);
}

function renderList(
  node: string,
  chains: readonly ChainRow[],
  hooks: readonly HookRow[],
  c: Palette,
): string {
  const rules = chains.reduce((n, ch) => n + ch.rules.length, 0);
  const table = renderTable(
    [
      ['CHAIN', 'FAMILY', 'KIND', 'DIRECTION', 'RULES', 'FROM', 'STATE'].map((h) => c.bold(h)),
      ...chains.map((ch) => [
        ch.name,
        familyText(ch.family),
        ch.kind,
        ch.direction ?? '-',
        String(ch.rules.length),
        origin(ch),
        stateText(ch.state, c),
      ]),
    ],
    { alignRight: [4] },
  );
  return [
    `${node}: ${plural(chains.length, 'chain')}, ${plural(rules, 'rule')} in the filter table (as the kernel holds them)`,
    '',
    ...(hooks.length > 0 ? [renderHooks(hooks, c), ''] : []),
    table,
    '',
  ].join('\n');
}

function renderChain(ch: ChainRow, c: Palette): string {
  const from = ch.owner ? `${ch.kind} ${ch.owner}` : `${ch.kind}`;
  const head = `chain ${c.bold(ch.name)} (${familyText(ch.family)}, ${from}${ch.direction ? `, ${ch.direction}` : ''}): ${stateText(ch.state, c)}${ch.state === 'missing' ? ' (desired rules shown)' : ''}`;
  const rows = [
    ['#', 'RULE', 'NOTE', 'POLICY'].map((h) => c.bold(h)),
    ...ch.rules.map((r) => [
      String(r.rule),
      r.extra ? c.red(r.spec) : r.spec,
      r.extra ? c.red(`${r.note} (not desired)`) : r.note,
      r.policy ?? '',
    ]),
  ];
  const lines = [head, renderTable(rows, { alignRight: [0] })];
  if (ch.missingRules.length > 0) {
    lines.push(c.red('desired, missing from the kernel:'));
    lines.push(renderTable(ch.missingRules.map((r) => ['', c.red(r.spec), r.note])));
  }
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('chains')
    .description(
      "Palisade's iptables chains and hook rules as the kernel holds them, with the policy or pod each came from",
    )
    .argument('[chain]', 'one chain: list its rules')
    .addOption(familyOption())
    .option(
      '--policy <namespace/name|name>',
      'only the chains rendered from this NetworkPolicy (namespace/name) or ClusterNetworkPolicy (name)',
    )
    .addOption(agentOption())
    .addOption(outputOption())
    .addHelpText('after', EXAMPLES)
    .action(async (name: string | undefined, opts: ChainsOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const c = palette(useColour(ctx));
      const client = new AgentClient(opts.agent);
      const [status, { desired, actual }] = await Promise.all([
        client.get<StatusDoc>('/v1/status'),
        client.dataplaneViews(),
      ]);
      const inv = inventory(desired, actual);
      const family = opts.family ? (Number(opts.family) as IPFamily) : undefined;
      let chains = inv.chains.filter((ch) => family === undefined || ch.family === family);
      if (opts.policy !== undefined) {
        chains = chains.filter((ch) => ch.owner === opts.policy && isPolicyChain(ch));
        if (chains.length === 0)
          throw new InputError(
            `no chain comes from policy ${opts.policy} on ${status.nodeName} (does it select a pod of this node?)`,
          );
      }
      const hooks = inv.hooks.filter((h) => family === undefined || h.family === family);
      if (name !== undefined) {
        const found = chains.filter((ch) => ch.name === name);
        if (found.length === 0)
          throw new InputError(
            `no Palisade chain ${name} on ${status.nodeName} (palisade chains lists them)`,
          );
        ctx.stdout(
          opts.output === 'json'
            ? toJSON({ node: status.nodeName, chains: found })
            : found.map((ch) => renderChain(ch, c)).join('\n'),
        );
        return;
      }
      ctx.stdout(
        opts.output === 'json'
          ? toJSON({ node: status.nodeName, hooks, chains })
          : renderList(status.nodeName, chains, opts.policy ? [] : hooks, c),
      );
    });
}
