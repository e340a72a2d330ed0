/**
 * `palisade rules NS/POD [--agent ADDRESS] [-o json]`: the policies that select a pod of the
 * agent's node, per direction; each rule with its peers (and the pods and CIDRs they resolve to
 * now) and ports (named ports resolved); and the kernel chains and ipsets that implement them,
 * as the kernel holds them. See live/pod-rules.ts for the report.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { contextOf, useColour } from '../context';
import { InputError } from '../errors';
import { outputOption, toJSON, type OutputFormat } from '../format/output';
import { renderPodRules } from '../format/pod-rules-text';
import { agentOption, AgentClient } from '../live/client';
import type { RulesDoc, StatusDoc } from '../live/documents';
import { podRulesReport } from '../live/pod-rules';

interface RulesOptions {
  agent: string;
  output: OutputFormat;
  all?: boolean;
}

const EXAMPLES = `
Examples:
  $ palisade rules default/nginx
  $ palisade rules shop/cart-7d9f --agent /run/palisade-sandbox/s12q/sock/agent-n1.sock
  # the agent of the node where the pod runs, from anywhere kubectl works
  $ kubectl palisade --pod shop/cart-7d9f rules shop/cart-7d9f
  # every member of every peer set, and JSON for scripts
  $ palisade rules default/nginx --all
  $ palisade rules default/nginx -o json | jq '.ingress.policies[].rules[].peers'

An agent holds rules only for the pods of its own node: for another node's pod it says which
node to ask. Kernel lines are "CHAIN #N" (N as \`iptables -L CHAIN --line-numbers\` counts).
Exit status: 0 on success, 2 for an unknown pod or one on another node, 1 when the agent
cannot be reached.
`;

function parsePodKey(text: string): string {
  const t = text.trim();
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(t))
    throw new InvalidArgumentError(`"${text}" is not NAMESPACE/POD`);
  return t;
}

export function register(program: Command): void {
  program
    .command('rules')
    .description(
      "the policies that select a pod, their rules' peers and ports as resolved now, and the kernel chains and ipsets that implement them",
    )
    .argument('<pod>', 'NAMESPACE/POD, a pod of the agent’s node', parsePodKey)
    .option('--all', 'list every member of every peer set and ipset (default: the first 20)')
    .addOption(agentOption())
    .addOption(outputOption())
    .addHelpText('after', EXAMPLES)
    .action(async (pod: string, opts: RulesOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const client = new AgentClient(opts.agent);
      const [status, doc, { desired, actual }] = await Promise.all([
        client.get<StatusDoc>('/v1/status'),
        client.get<RulesDoc>('/v1/rules', { pod }),
        client.dataplaneViews(),
      ]);
      const report = podRulesReport(status.nodeName, doc, desired, actual);
      if (report.enforcedOn !== undefined) {
        throw new InputError(
          `${report.reason}: ask the agent on ${report.enforcedOn} (kubectl palisade --node ${report.enforcedOn} rules ${pod})`,
        );
      }
      ctx.stdout(
        opts.output === 'json'
          ? toJSON(report)
          : renderPodRules(report, { colour: useColour(ctx), maxMembers: opts.all ? Infinity : 20 }),
      );
    });
}
