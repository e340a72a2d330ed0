/**
 * `palisade analyze SCENARIO.yaml`: the reachability matrix of a scenario, computed by the
 * compiler (see ../analysis.ts for what a cell means).
 */
import type { Command } from 'commander';
import type { Probe } from '../../../compiler';
import { analyzeScenario } from '../analysis';
import { collectIP, collectProbe, formatProbe } from '../args';
import { contextOf, useColour } from '../context';
import { InputError } from '../errors';
import { renderMatrix } from '../format/matrix-table';
import { outputOption, toJSON, type OutputFormat } from '../format/output';
import { readScenario } from '../scenario-file';
import { SCENARIO_KINDS_TEXT } from '../../../compiler/validate';

interface AnalyzeOptions {
  port?: Probe[];
  external?: string[];
  output: OutputFormat;
}

const EXAMPLES = `
Examples:
  # every port some pod declares, as a table
  $ palisade analyze e2e/cases/01-default-deny-ingress/scenario.yaml

  # chosen probes, and a host outside the cluster as source and destination
  $ palisade analyze scenario.yaml --port 80/TCP --port 53/UDP --external 192.0.2.10

  # machine-readable: {"pods": [...], "probes": [{"port", "protocol", "allowed": {FROM: {TO: bool}}}]}
  $ palisade analyze scenario.yaml -o json

A cell is policy reachability only (ClusterNetworkPolicy tiers and NetworkPolicy): egress
of the source and ingress of the destination must both allow the connection; whether the
destination listens on the port plays no part. Pairs between two --external addresses are
not shown: no policy decides them. ClusterNetworkPolicy rules Palisade cannot enforce as
written (domainNames peers) are named in a warning on stderr.
Exit status: 0 on success, 2 on bad input (the scenario's errors are listed).
`;

export function register(program: Command): void {
  program
    .command('analyze')
    .description(
      'print the reachability matrix of a scenario (Namespaces, Pods, Nodes, NetworkPolicies, ClusterNetworkPolicies)',
    )
    .argument('<scenario>', `multi-document YAML file of ${SCENARIO_KINDS_TEXT}`)
    .option(
      '-p, --port <port/protocol>',
      'probe, repeatable (default: every port/protocol some pod declares)',
      collectProbe,
    )
    .option(
      '-e, --external <ip>',
      'address outside the cluster to include as source and destination, repeatable',
      collectIP,
    )
    .addOption(outputOption())
    .addHelpText('after', EXAMPLES)
    .action((scenarioPath: string, opts: AnalyzeOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const scenario = readScenario(ctx, scenarioPath);
      const probes = dedupe(
        opts.port ?? scenario.containerPorts.map((p) => ({ port: p.port, protocol: p.protocol })),
      );
      if (probes.length === 0) {
        throw new InputError(
          `no pod in ${scenarioPath} declares a container port: choose probes with --port, e.g. --port 80/TCP`,
        );
      }
      const result = analyzeScenario(scenario, probes, opts.external ?? []);
      ctx.stdout(opts.output === 'json' ? toJSON(result) : renderMatrix(result, useColour(ctx)));
    });
}

function dedupe(probes: readonly Probe[]): Probe[] {
  const seen = new Set<string>();
  return probes.filter((p) => {
    const k = formatProbe(p);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
