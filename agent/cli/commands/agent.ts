/**
 * `palisade agent --node-name NAME [--kubeconfig FILE] ...`: the node daemon. Runs until SIGTERM
 * or SIGINT, then stops cleanly and leaves the rules in place. Every flag can also come from the
 * environment (flag > environment > default); the table lives in agent/daemon/config.ts.
 */
import { Option, type Command } from 'commander';
import { runAgent } from '../../daemon/agent';
import { CONFIG_OPTIONS, parseConfig, type RawConfig } from '../../daemon/config';
import { CliError, EXIT_FAILURE, InputError } from '../errors';

const EXAMPLES = `
Environment: ${CONFIG_OPTIONS.map((o) => o.env).join(', ')}.

Examples:
  # in a DaemonSet (in-cluster configuration, NODE_NAME from the downward API)
  $ palisade agent
  # outside a cluster
  $ palisade agent --node-name worker-1 --kubeconfig ~/.kube/config --debug-socket /tmp/palisade.sock

Endpoints: http://METRICS-ADDRESS/{healthz,readyz,metrics}; debug JSON over the unix socket
(curl --unix-socket /run/palisade/palisade.sock http://palisade/v1/status).
Exit status: 0 after a clean stop (SIGTERM/SIGINT), 1 if the agent cannot start, 2 on bad flags.
`;

export function register(program: Command): void {
  const cmd = program
    .command('agent')
    .description(
      'run the node agent: watch Pods, Namespaces and NetworkPolicies and enforce them with iptables and ipsets',
    );
  for (const o of CONFIG_OPTIONS) {
    const opt = new Option(o.flag, o.description).env(o.env);
    if (o.default !== undefined) opt.default(o.default);
    cmd.addOption(opt);
  }
  cmd.addHelpText('after', EXAMPLES).action(async (opts: RawConfig) => {
    const { config, problems } = parseConfig(opts);
    if (problems.length > 0) throw new InputError('invalid configuration:', problems);
    const code = await runAgent(config);
    if (code !== 0) throw new CliError('agent failed to start (see the log above)', EXIT_FAILURE);
  });
}
