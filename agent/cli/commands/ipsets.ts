/**
 * `palisade ipsets [NAME] [--family 4|6] [--policy NS/NAME]`: Palisade's own ipsets as the kernel
 * holds them: what each holds (a policy peer, in words, or the local pods isolated in one
 * direction), the policies whose rules use it, its size, and whether it matches the desired
 * state; with NAME, every member and the pod that has that address.
 */
import type { Command } from 'commander';
import type { PodInfo } from '../../../compiler';
import type { IPFamily } from '../../../dataplane/api';
import { contextOf, useColour } from '../context';
import { InputError } from '../errors';
import { palette, type Palette } from '../format/colour';
import { outputOption, toJSON, type OutputFormat } from '../format/output';
import { plural } from '../format/quantities';
import { renderTable } from '../format/table';
import { agentOption, AgentClient } from '../live/client';
import type { StatusDoc } from '../live/documents';
import { inventory, type SetRow } from '../live/inventory';
import { familyText } from '../live/kernel-objects';
import { familyOption, stateText } from './chains';

interface IpsetsOptions {
  agent: string;
  output: OutputFormat;
  family?: string;
  policy?: string;
}

const EXAMPLES = `
Examples:
  $ palisade ipsets
  $ palisade ipsets --policy default/access-nginx
  $ palisade ipsets PALISADE-P4-foo-L7VOQ6NF       # every member, with its pod
  $ palisade ipsets -o json | jq '.ipsets[] | {name, policies, members: (.members | length)}'

ROLE "peer" sets hold the addresses a policy rule admits (pods matching its selectors, an
ipBlock, or the pods declaring a named port); "isolation" sets the local pods isolated in one
direction. STATE compares the kernel with the agent's desired state.
Exit status: 0 on success, 2 for an unknown set, 1 when the agent cannot be reached.
`;

function what(s: SetRow): string {
  if (s.role === 'isolation') return `local pods isolated for ${s.direction ?? '?'}`;
  return s.selects ?? s.role;
}

/** The policies whose rules match the set; for Palisade's own sets, the chains that do. */
function usedBy(s: SetRow): string {
  return (s.policies.length > 0 ? s.policies : s.chains).join(', ') || '-';
}

function renderList(
  node: string,
  sets: readonly SetRow[],
  c: Palette,
  backend: 'iptables' | 'nftables' = 'iptables',
): string {
  const members = sets.reduce((n, s) => n + s.members.length, 0);
  const table = renderTable(
    [
      ['NAME', 'FAMILY', 'TYPE', 'MEMBERS', 'HOLDS', 'USED BY', 'STATE'].map((h) => c.bold(h)),
      ...sets.map((s) => [
        s.name,
        familyText(s.family),
        s.type,
        String(s.members.length),
        what(s),
        usedBy(s),
        stateText(s.state, c),
      ]),
    ],
    { alignRight: [3] },
  );
  const [one, many] = backend === 'nftables' ? ['set or map', 'sets and maps'] : ['ipset', 'ipsets'];
  return `${node}: ${plural(sets.length, one, many)}, ${plural(members, backend === 'nftables' ? 'element' : 'member')} (as the kernel holds them)\n\n${table}\n`;
}

function ownerOf(pods: readonly PodInfo[], member: string): string {
  const address = member.split(/[ ,]/)[0];
  if (address.includes('/')) return member.endsWith(' nomatch') ? 'excepted' : '';
  const p = pods.find((x) => !x.hostNetwork && x.ips.includes(address));
  return p ? `${p.namespace}/${p.name} (${p.nodeName || 'no node'})` : '';
}

function renderSet(s: SetRow, pods: readonly PodInfo[], c: Palette): string {
  const lines = [
    `ipset ${c.bold(s.name)} (${s.type}, ${familyText(s.family)}, ${s.role}): ${stateText(s.state, c)}`,
    `  holds    ${what(s)}`,
    ...(s.peerSet ? [`  peer set ${s.peerSet}`] : []),
    `  used by  ${usedBy(s)}`,
    `  ${plural(s.members.length, 'member')}${s.state === 'missing' ? ' (desired; missing from the kernel)' : ''}:`,
  ];
  if (s.members.length > 0)
    lines.push(
      renderTable(s.members.map((m) => [m, ownerOf(pods, m)]))
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n'),
    );
  if (s.missingMembers.length > 0)
    lines.push(c.red(`  desired, missing from the kernel: ${s.missingMembers.join(' ')}`));
  if (s.extraMembers.length > 0)
    lines.push(c.red(`  in the kernel, not desired: ${s.extraMembers.join(' ')}`));
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('ipsets')
    .description(
      "Palisade's ipsets as the kernel holds them: what each holds, the policies that use it, its members",
    )
    .argument('[name]', 'one ipset: list its members and their pods')
    .addOption(familyOption())
    .option('--policy <namespace/name>', 'only the ipsets this policy uses')
    .addOption(agentOption())
    .addOption(outputOption())
    .addHelpText('after', EXAMPLES)
    .action(async (name: string | undefined, opts: IpsetsOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const c = palette(useColour(ctx));
      const client = new AgentClient(opts.agent);
      const [status, { desired, actual }] = await Promise.all([
        client.get<StatusDoc>('/v1/status'),
        client.dataplaneViews(),
      ]);
      const family = opts.family ? (Number(opts.family) as IPFamily) : undefined;
      const inv = inventory(desired, actual);
      let sets = inv.ipsets.filter((s) => family === undefined || s.family === family);
      if (opts.policy !== undefined) {
        sets = sets.filter((s) => s.policies.includes(opts.policy!));
        if (sets.length === 0)
          throw new InputError(
            `no ipset is used by policy ${opts.policy} on ${status.nodeName} (does it select a pod of this node?)`,
          );
      }
      if (name === undefined) {
        ctx.stdout(
          opts.output === 'json'
            ? toJSON({ node: status.nodeName, ipsets: sets })
            : renderList(status.nodeName, sets, c, inv.backend),
        );
        return;
      }
      const set = sets.find((s) => s.name === name);
      if (!set)
        throw new InputError(`no Palisade ipset ${name} on ${status.nodeName} (palisade ipsets lists them)`);
      const { pods } = await client.get<{ pods: PodInfo[] }>('/v1/model', { kind: 'pods' });
      if (opts.output === 'json') {
        const owners = Object.fromEntries(
          set.members.map((m) => [m, ownerOf(pods, m)]).filter(([, o]) => o !== ''),
        );
        ctx.stdout(toJSON({ node: status.nodeName, ipset: set, owners }));
      } else {
        ctx.stdout(renderSet(set, pods, c));
      }
    });
}
