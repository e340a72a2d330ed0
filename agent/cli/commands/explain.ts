/**
 * `palisade explain [SCENARIO.yaml] --from A --to B --port 80/TCP`: the verdict for one
 * connection and the policies and rules behind it.
 *
 * With a SCENARIO it works offline on that file. Without one it asks a running agent
 * (`--agent`, the node's debug socket by default): the verdict against the live model, and the
 * kernel path that implements it (live/live-explain.ts).
 */
import type { Command } from 'commander';
import { objectKey, podIsLive, verdict, type Endpoint, type Probe } from '../../../compiler';
import type { Scenario } from '../../../compiler/scenario';
import { compileScenario } from '../analysis';
import { parseEndpointArg, parseProbe, type EndpointArg } from '../args';
import { contextOf, useColour, type CliContext } from '../context';
import { InputError } from '../errors';
import { endpointName, explainVerdict, renderExplanation } from '../format/explain-text';
import { renderLiveExplain } from '../format/live-explain-text';
import { outputOption, toJSON, type OutputFormat } from '../format/output';
import { agentOption, AgentClient } from '../live/client';
import type { DataplaneView, ExplainDoc, StatusDoc } from '../live/documents';
import { liveExplain } from '../live/live-explain';
import { readScenario } from '../scenario-file';
import { SCENARIO_KINDS_TEXT } from '../../../compiler/validate';

interface ExplainOptions {
  from: EndpointArg;
  to: EndpointArg;
  port: Probe;
  output: OutputFormat;
  agent: string;
}

const EXAMPLES = `
Examples:
  # live, against the agent of this node (or --agent SOCKET|HOST:PORT)
  $ palisade explain --from default/foo --to default/nginx --port 80/TCP
  ALLOWED: default/foo -> default/nginx on 80/TCP
  Egress from default/foo: not isolated (no policy selects it for egress) → allowed.
  Ingress to default/nginx: isolated by default/access-nginx; allowed by default/access-nginx ingress[0] (...).

  Kernel path on node-1 (IPv4, 10.244.2.10 -> 10.244.1.10 tcp/80, first packet, FORWARD; ...):
    FORWARD #1                      -j PALISADE-FORWARD
    ...
  > PALISADE-PI-access-C6RLDQGC #1  -m set --match-set PALISADE-P4-foo-L7VOQ6NF src -g PALISADE-ALLOW  default/access-nginx ingress rule 0; ...

  # the agent of the node where the destination runs, from anywhere kubectl works
  $ kubectl palisade --pod default/nginx explain --from default/foo --to default/nginx --port 80/TCP

An agent holds rules for its own node's pods only: when the source runs on another node, its
egress is decided there (the answer says so, and which node to ask); likewise the ingress of a
destination on another node.

  # offline, on a scenario file
  $ palisade explain scenario.yaml --from x/b --to y/a --port 80/TCP
  DENIED: x/b -> y/a on 80/TCP
  Egress from x/b: not isolated (no policy selects it for egress) → allowed.
  Ingress to y/a: isolated by y/allow-web; no rule allows x/b on 80/TCP → denied:
    y/allow-web ingress[0] (from pods matching app=web in namespace y, on 80/TCP): peer does not match: x/b is in namespace x, not y

  # ClusterNetworkPolicy tiers: the deciding tier, policy, rule (index and name) and priority,
  # the Pass rules met on the way, and a same-priority tie that the name order broke
  $ palisade explain scenario.yaml --from dev/web --to sensitive/db --port 5432
  DENIED: dev/web -> sensitive/db on 5432/TCP
  Egress from dev/web: not isolated (no policy selects it for egress) → allowed.
  Ingress to sensitive/db: Admin tier: ClusterNetworkPolicy admin-a (priority 5) ingress[1] "deny-all" (Deny from every pod in every namespace, on any port) → denied.
    Tie: admin-a and admin-b ingress[0] "accept-dev" (Accept) have the same priority 5 and match too; ...

  # a host outside the cluster, and JSON (the verdict, and per direction who decided)
  $ palisade explain scenario.yaml --from 192.0.2.10 --to x/a --port 443 -o json

Exit status: 0 whatever the verdict, 2 on bad input (invalid scenario, unknown pod), 1 when
the agent cannot be reached.
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
      'explain whether policy allows one connection, which tier, policy and rule decide it and, live, the kernel rules that implement it',
    )
    .argument(
      '[scenario]',
      `multi-document YAML file of ${SCENARIO_KINDS_TEXT} (offline); without it, ask the running agent`,
    )
    .requiredOption('-f, --from <endpoint>', 'source: NAMESPACE/POD or an IP address', parseEndpointArg)
    .requiredOption('-t, --to <endpoint>', 'destination: NAMESPACE/POD or an IP address', parseEndpointArg)
    .requiredOption(
      '-p, --port <port/protocol>',
      'destination port and protocol, e.g. 80/TCP (protocol defaults to TCP)',
      parseProbe,
    )
    .addOption(outputOption())
    .addOption(agentOption())
    .addHelpText('after', EXAMPLES)
    .action(async (scenarioPath: string | undefined, opts: ExplainOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (scenarioPath === undefined) return explainLive(ctx, opts);
      if (cmd.getOptionValueSource('agent') === 'cli')
        throw new InputError(
          '--agent asks a running agent: leave out the SCENARIO, or --agent to stay offline',
        );
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

async function explainLive(ctx: CliContext, opts: ExplainOptions): Promise<void> {
  const client = new AgentClient(opts.agent);
  const query = (e: EndpointArg) => (e.kind === 'pod' ? e.key : e.ip);
  const [status, doc, actual] = await Promise.all([
    client.get<StatusDoc>('/v1/status'),
    client.get<ExplainDoc>('/v1/explain', {
      from: query(opts.from),
      to: query(opts.to),
      port: String(opts.port.port),
      protocol: opts.port.protocol,
    }),
    client.get<DataplaneView>('/v1/dataplane/actual'),
  ]);
  const report = await liveExplain(status.nodeName, doc, actual, opts.port);
  ctx.stdout(opts.output === 'json' ? toJSON(report) : renderLiveExplain(report, useColour(ctx)));
}
