/**
 * `palisade diff [--agent ADDRESS] [-o json]`: the agent's desired state against the kernel.
 * Silent with exit status 0 when they agree; the differences (stdout) and exit status 1 when
 * they do not; exit status 2 when it cannot tell (agent unreachable, bad flags), as diff(1) and
 * `kubectl diff` do. See live/drift-report.ts.
 */
import type { Command } from 'commander';
import { contextOf, useColour } from '../context';
import { CliError } from '../errors';
import { palette } from '../format/colour';
import { outputOption, toJSON, type OutputFormat } from '../format/output';
import { plural } from '../format/quantities';
import { renderTable } from '../format/table';
import { agentOption, AgentClient } from '../live/client';
import type { DriftDoc, StatusDoc } from '../live/documents';
import { driftReport, type DifferenceReport, type DriftReport } from '../live/drift-report';
import { inventory } from '../live/inventory';
import { familyText } from '../live/kernel-objects';

interface DiffOptions {
  agent: string;
  output: OutputFormat;
}

/** Exit status when the desired state and the kernel differ. */
export const EXIT_DIFFERENT = 1;
/** Exit status when the comparison could not be made. */
export const EXIT_TROUBLE = 2;

const EXAMPLES = `
Examples:
  $ palisade diff && echo "kernel matches the agent"
  $ palisade diff --agent /run/palisade-sandbox/s12q/sock/agent-n1.sock
  chain PALISADE-WI-nginx-BAE2JLWV (IPv4) missing  [pod default/nginx, ingress]
      missing from the kernel:
        -s 10.244.1.10/32 -j RETURN   pod default/nginx: traffic to itself
        ...
  $ kubectl palisade --node worker-1 diff -o json

The agent compares what it wants with what the kernel holds, object by object (its own chains,
hook rules and ipsets; nothing else is read). It rewrites differences itself at its next drift
check (--resync-interval of the agent, 5m by default); diff only reports.
Exit status: 0 when they agree (nothing printed), 1 when they differ, 2 when the comparison
could not be made (agent unreachable, bad flags). With -o json the document is printed either way.
`;

function ruleRows(rules: DifferenceReport['missingRules']): string {
  return renderTable(rules.map((r) => [r.spec, r.note]))
    .split('\n')
    .map((l) => `        ${l}`)
    .join('\n');
}

function memberLine(members: readonly string[], max = 20): string {
  const shown = members.slice(0, max).join(' ');
  return members.length > max ? `${shown} ... and ${members.length - max} more` : shown;
}

export function renderDrift(r: DriftReport, colour: boolean): string {
  const c = palette(colour);
  const out = [
    c.bold(
      `${r.node}: ${plural(r.differences.length, 'difference')} between the desired state and the kernel`,
    ),
  ];
  for (const d of r.differences) {
    const family = d.object?.family && !d.text.includes('(IPv') ? ` (${familyText(d.object.family)})` : '';
    out.push(`  ${c.red(d.text)}${family}${d.origin ? `  [${d.origin}]` : ''}`);
    if (d.missingRules.length > 0) out.push('      missing from the kernel:', ruleRows(d.missingRules));
    if (d.extraRules.length > 0) out.push('      in the kernel, not desired:', ruleRows(d.extraRules));
    if (d.missingMembers.length > 0)
      out.push(`      missing from the kernel: ${memberLine(d.missingMembers)}`);
    if (d.extraMembers.length > 0)
      out.push(`      in the kernel, not desired: ${memberLine(d.extraMembers)}`);
    if (d.settled)
      out.push('      (in sync again when the details were read: an apply or repair ran meanwhile)');
  }
  out.push(
    'The agent rewrites these at its next drift check (its --resync-interval); `palisade status` shows the last one.',
    '',
  );
  return out.join('\n');
}

async function compare(client: AgentClient): Promise<DriftReport> {
  const [status, drift] = await Promise.all([
    client.get<StatusDoc>('/v1/status'),
    client.get<DriftDoc>('/v1/drift'),
  ]);
  if (drift.differences.length === 0) return driftReport(status.nodeName, [], undefined);
  const { desired, actual } = await client.dataplaneViews();
  return driftReport(status.nodeName, drift.differences, inventory(desired, actual));
}

export function register(program: Command): void {
  program
    .command('diff')
    .description(
      "compare the agent's desired chains, hooks and ipsets with the kernel: silent and exit 0 when they agree, the differences and exit 1 when not",
    )
    .addOption(agentOption())
    .addOption(outputOption())
    .addHelpText('after', EXAMPLES)
    .action(async (opts: DiffOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      let report: DriftReport;
      try {
        report = await compare(new AgentClient(opts.agent));
      } catch (e) {
        // Any failure to compare is "trouble" (2), never "different" (1).
        if (e instanceof CliError) throw new CliError(e.message, EXIT_TROUBLE, e.details);
        throw new CliError(`internal error: ${e instanceof Error ? e.message : String(e)}`, EXIT_TROUBLE);
      }
      if (opts.output === 'json') ctx.stdout(toJSON(report));
      else if (!report.inSync) ctx.stdout(renderDrift(report, useColour(ctx)));
      if (!report.inSync) {
        throw new CliError(
          `the kernel of ${report.node} differs from the desired state (${plural(report.differences.length, 'difference')})`,
          EXIT_DIFFERENT,
        );
      }
    });
}
