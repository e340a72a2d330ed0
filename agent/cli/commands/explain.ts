/**
 * `palisade explain SCENARIO.yaml --from A --to B --port 80/TCP`: the verdict for one
 * connection of a scenario and the policies and rules behind it.
 */
import type { Command } from 'commander';
import { objectKey, podIsLive, verdict, type Endpoint, type Probe } from '../../../compiler';
import type { Scenario } from '../../../compiler/scenario';
import { compileScenario } from '../analysis';
import { parseEndpointArg, parseProbe, type EndpointArg } from '../args';
import { contextOf } from '../context';
import { InputError } from '../errors';
import { endpointName, explainVerdict, renderExplanation } from '../format/explain-text';
import { outputOption, toJSON, type OutputFormat } from '../format/output';
import { readScenario } from '../scenario-file';

interface ExplainOptions {
  from: EndpointArg;
  to: EndpointArg;
  port: Probe;
  output: OutputFormat;
}

const EXAMPLES = `
Examples:
  $ palisade explain scenario.yaml --from x/b --to y/a --port 80/TCP
  DENIED: x/b -> y/a on 80/TCP
  Egress from x/b: not isolated (no policy selects it for egress) → allowed.
  Ingress to y/a: isolated by y/allow-web; no rule allows x/b on 80/TCP → denied:
    y/allow-web ingress[0] (from pods matching app=web in namespace y, on 80/TCP): peer does not match: x/b is in namespace x, not y

  # a host outside the cluster, and JSON (the verdict with every policy and rule reference)
  $ palisade explain scenario.yaml --from 192.0.2.10 --to x/a --port 443 -o json

Exit status: 0 whatever the verdict, 2 on bad input (invalid scenario, unknown pod).
`;

function toEndpoint(arg: EndpointArg, scenario: Scenario, flag: string): Endpoint {
  if (arg.kind === 'ip') return arg;
  const pod = scenario.pods.find((p) => objectKey(p) === arg.key);
  if (!pod) {
    const known = scenario.pods.map(objectKey);
    const hint =
      known.length > 0 ? ` (pods: ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', ...' : ''})` : '';
    throw new InputError(`${flag} ${arg.key}: no such pod in ${scenario.file}${hint}`);
  }
  if (!podIsLive(pod)) {
    const why = pod.ips.length === 0 ? 'has no address' : `is ${pod.phase}`;
    throw new InputError(`${flag} ${arg.key}: the pod ${why}, so it takes no part in NetworkPolicy`);
  }
  return { kind: 'pod', key: arg.key };
}

export function register(program: Command): void {
  program
    .command('explain')
    .description(
      'explain whether NetworkPolicy allows one connection of a scenario, and which policies and rules decide it',
    )
    .argument(
      '<scenario>',
      'multi-document YAML file of v1 Namespace, v1 Pod and networking.k8s.io/v1 NetworkPolicy objects',
    )
    .requiredOption('-f, --from <endpoint>', 'source: NAMESPACE/POD or an IP address', parseEndpointArg)
    .requiredOption('-t, --to <endpoint>', 'destination: NAMESPACE/POD or an IP address', parseEndpointArg)
    .requiredOption(
      '-p, --port <port/protocol>',
      'destination port and protocol, e.g. 80/TCP (protocol defaults to TCP)',
      parseProbe,
    )
    .addOption(outputOption())
    .addHelpText('after', EXAMPLES)
    .action((scenarioPath: string, opts: ExplainOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const scenario = readScenario(ctx, scenarioPath);
      const from = toEndpoint(opts.from, scenario, '--from');
      const to = toEndpoint(opts.to, scenario, '--to');
      if (from.kind === 'ip' && to.kind === 'ip') {
        throw new InputError(
          '--from and --to are both addresses: at least one end must be a pod of the scenario',
        );
      }
      const compiler = compileScenario(scenario);
      const v = verdict(compiler, from, to, opts.port);
      const explanation = explainVerdict(v, from, to, opts.port, compiler);
      if (opts.output === 'json') {
        ctx.stdout(
          toJSON({
            from: endpointName(from),
            to: endpointName(to),
            port: opts.port.port,
            protocol: opts.port.protocol,
            allowed: v.allowed,
            verdict: v,
            explanation,
          }),
        );
      } else {
        ctx.stdout(renderExplanation(explanation));
      }
    });
}
