/**
 * `palisade sandbox SCENARIO.yaml`: the scenario as a simulated cluster in network namespaces
 * (one per node, pod and external host), a `palisade agent` per node enforcing it, and the
 * reachability matrix measured with real packets, printed like `palisade analyze` prints its
 * computed one and compared with it. `sandbox probe` re-probes a kept sandbox, `sandbox down`
 * removes kept ones. The machinery lives in e2e/sandbox (see its README.md).
 */
import { existsSync } from 'node:fs';
import { Option, type Command } from 'commander';
import type { Probe } from '../../../compiler';
import {
  DEFAULT_ENFORCEMENT_LAUNCH,
  InterruptedError,
  launchWithBackend,
  Sandbox,
  StateStore,
  clusterObjects,
  compareMatrices,
  enforcement,
  findCommand,
  forgetUdpFlows,
  planFromScenario,
  preflight,
  runSandboxSession,
  teardownSandbox,
  type EnforcementLaunch,
  type ProbeReport,
  type SandboxPlan,
  type Topology,
} from '../../../e2e/sandbox';
import { agentDebugSocket } from '../../../e2e/sandbox/enforcement';
import { analyzeScenario } from '../analysis';
import { collectIP, collectProbe, formatProbe } from '../args';
import { contextOf, useColour, type CliContext } from '../context';
import { CliError, EXIT_FAILURE, EXIT_USAGE, InputError } from '../errors';
import { renderMatrix } from '../format/matrix-table';
import { outputOption, toJSON, type OutputFormat } from '../format/output';
import { readScenario } from '../scenario-file';
import { renderSandboxStatus, sandboxStatus } from './sandbox-status';
import type { VerdictEvent } from '../../daemon/verdicts/event';
import { planEndpoints } from '../../../e2e/sandbox/endpoints';
import { deniedCells, readVerdicts, verdictCursor } from '../../../e2e/sandbox/verdicts';
import { kernelDenialsText } from '../format/kernel-denials';
import { AgentClient } from '../live/client';
import { addWatchOptions, streamVerdicts, type WatchFlags } from './watch';

type Backend = 'iptables' | 'nftables';

interface SandboxOptions {
  port?: Probe[];
  external?: string[];
  output: OutputFormat;
  topology: Topology;
  backend: Backend;
  keep?: boolean;
  agents: boolean;
  agentArg?: string[];
  quiet?: boolean;
}

interface ProbeOptions {
  id?: string;
}

const EXAMPLES = `
Examples:
  # build, enforce with one agent per node, probe every declared port, compare with analyze, tear down
  $ sudo palisade sandbox examples/access-nginx.yaml
  # bridge topology (br_netfilter), chosen probes, a host outside the cluster, JSON output
  $ sudo palisade sandbox scenario.yaml --topology bridge --port 80/TCP --port 53/UDP --external 203.0.113.10 -o json
  # the same with every agent on the native nftables backend (default: iptables)
  $ sudo palisade sandbox examples/access-nginx.yaml --backend nftables
  # keep it, probe again later, ask an agent (--keep prints each node's debug socket), remove it
  $ sudo palisade sandbox scenario.yaml --keep && sudo palisade sandbox probe --port 8080/TCP
  $ sudo palisade status --agent /run/palisade-sandbox/ID/sock/agent-n1.sock
  $ sudo palisade sandbox down

A cell is allowed when a real packet got through: TCP connects and echoes a nonce, UDP
echoes a nonce (2 attempts), SCTP: a crafted INIT chunk reaches the destination's network
namespace (this kernel has no SCTP sockets). With agents (the default) the matrix is compared
with \`palisade analyze\`: any difference is listed and the exit status is 1.
--no-agents builds the cluster without enforcement: everything is reachable.
Needs root, iproute2, iptables, ipset, procps (sysctl) and python3, and nft with --backend
nftables; exit status 2 when missing.
`;

function collect(text: string, acc: string[] | undefined): string[] {
  return [...(acc ?? []), text];
}

function dedupe(probes: readonly Probe[]): Probe[] {
  const byLabel = new Map<string, Probe>();
  for (const p of probes) if (!byLabel.has(formatProbe(p))) byLabel.set(formatProbe(p), p);
  return [...byLabel.values()];
}

async function requireMachine(topology: Topology, backend: Backend = 'iptables'): Promise<void> {
  const problem = await preflight({
    topology,
    backend,
    commandLine: ['palisade', ...process.argv.slice(2)].join(' '),
  });
  if (problem) throw new CliError(problem, EXIT_USAGE);
}

function printReport(ctx: CliContext, report: ProbeReport, output: OutputFormat): void {
  for (const d of report.disagreements) {
    ctx.stderr(
      `note: ${d.probe} ${d.src} -> ${d.dst}: IPv4 ${d.ipv4 ? 'allowed' : 'denied'}, IPv6 ${d.ipv6 ? 'allowed' : 'denied'}\n`,
    );
  }
  for (const u of report.unprobeable)
    ctx.stderr(`note: ${u.src} -> ${u.dst} share no address family: not probed\n`);
  ctx.stdout(output === 'json' ? toJSON(report.matrix) : renderMatrix(report.matrix, useColour(ctx)));
}

/**
 * Under the matrix (table output): each denied cell with the policy and rule its node's kernel
 * reported dropping it. JSON output stays the matrix alone (as analyze prints it).
 */
function printDenials(
  ctx: CliContext,
  report: ProbeReport,
  events: readonly VerdictEvent[] | undefined,
  error: string | undefined,
  output: OutputFormat,
  plan: SandboxPlan,
): void {
  if (output === 'json') return;
  if (!events) {
    ctx.stderr(`note: the agents' verdict logs could not be read${error ? `: ${error}` : ''}\n`);
    return;
  }
  ctx.stdout(kernelDenialsText(deniedCells(report.matrix, planEndpoints(plan), events)));
}

/**
 * An option that both `sandbox` and a subcommand define: commander lets the parent consume
 * it even after the subcommand's name (unless the root program enables positional options),
 * so take the subcommand's value when given there, else the parent's.
 */
function shared<T>(cmd: Command, name: string): T {
  const mine = cmd.getOptionValueSource(name);
  return (
    mine === 'cli' || cmd.parent === null ? cmd.getOptionValue(name) : cmd.parent.getOptionValue(name)
  ) as T;
}

/**
 * How every node's agent is started: on `backend` (passed explicitly, so the agents' default
 * never decides), then the operator's own --agent-arg arguments.
 */
export function agentLaunch(backend: Backend, agentArgs: readonly string[] = []): EnforcementLaunch {
  const launch = launchWithBackend(backend, DEFAULT_ENFORCEMENT_LAUNCH);
  return { ...launch, agentArgv: [...launch.agentArgv, ...agentArgs] };
}

/** Where the operator commands reach each node's agent of a kept sandbox. */
function sayAgentSockets(say: (line: string) => void, id: string): void {
  const store = StateStore.open(id);
  say(
    `sandbox ${id}: its agents answer \`palisade status|rules|explain|diff|chains|ipsets --agent SOCKET\` (as root):`,
  );
  store.state.plan.nodes.forEach((n, i) => say(`  ${n.name}  ${agentDebugSocket(store, i)}`));
}

/** The one kept sandbox, or the one named by --id. */
function chooseKept(id: string | undefined): string {
  if (id !== undefined) {
    if (!StateStore.exists(id)) throw new InputError(`no sandbox ${id}`);
    return id;
  }
  const ids = StateStore.listUnowned();
  if (ids.length === 0)
    throw new InputError('no kept sandbox: start one with `palisade sandbox SCENARIO.yaml --keep`');
  if (ids.length > 1)
    throw new InputError(`several sandboxes are kept (${ids.join(', ')}): choose one with --id`);
  return ids[0];
}

export function register(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description(
      'run a scenario as a simulated cluster in network namespaces, enforced by agents, and probe it with real packets',
    )
    .argument(
      '[scenario]',
      'multi-document YAML file of Namespaces, Pods and NetworkPolicies (as for analyze)',
    )
    .option(
      '-p, --port <port/protocol>',
      'probe, repeatable (default: every port/protocol some pod declares)',
      collectProbe,
    )
    .option(
      '-e, --external <ip>',
      'host outside the cluster (own namespace) as source and destination, repeatable',
      collectIP,
    )
    .addOption(outputOption())
    .addOption(
      new Option('-t, --topology <topology>', 'pod wiring').choices(['routed', 'bridge']).default('routed'),
    )
    .addOption(
      new Option('--backend <backend>', "every agent's dataplane backend")
        .choices(['iptables', 'nftables'])
        .default('iptables'),
    )
    .option('--keep', 'leave the sandbox running after probing (see `sandbox probe`, `sandbox down`)')
    .option('--no-agents', 'no enforcement: build and probe the bare cluster (everything reachable)')
    .option('--agent-arg <arg>', 'extra argument for every `palisade agent`, repeatable', collect)
    .option('-q, --quiet', 'no progress lines on stderr (results, notes and errors still)')
    .addHelpText('after', EXAMPLES)
    .action(async (scenarioPath: string | undefined, opts: SandboxOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (scenarioPath === undefined)
        throw new InputError('a scenario file is required (or a subcommand: probe, down)');
      const scenario = readScenario(ctx, scenarioPath);
      const probes = dedupe(
        opts.port ?? scenario.containerPorts.map((p) => ({ port: p.port, protocol: p.protocol })),
      );
      if (probes.length === 0) {
        throw new InputError(
          `no pod in ${scenarioPath} declares a container port: choose probes with --port, e.g. --port 80/TCP`,
        );
      }
      const externals = opts.external ?? [];
      await requireMachine(opts.topology, opts.backend);
      const { plan, skipped } = planFromScenario(scenario, externals, probes);
      for (const key of skipped) ctx.stderr(`note: pod ${key} has no address (not running): left out\n`);
      const launch = agentLaunch(opts.backend, opts.agentArg);
      const say = (line: string): void => ctx.stderr(`${line}\n`);
      const log = opts.quiet ? () => undefined : say;
      let result;
      try {
        result = await runSandboxSession({
          plan,
          topology: opts.topology,
          probes,
          keep: opts.keep === true,
          enforcement: opts.agents ? enforcement(clusterObjects(scenario), launch) : undefined,
          log,
        });
      } catch (e) {
        if (e instanceof InterruptedError)
          throw new CliError(e.message, 128 + (e.signal === 'SIGINT' ? 2 : e.signal === 'SIGHUP' ? 1 : 15));
        throw e;
      }
      printReport(ctx, result.report, opts.output);
      if (opts.agents)
        printDenials(ctx, result.report, result.verdicts, result.verdictsError, opts.output, plan);
      if (result.kept) {
        say(`sandbox ${result.id} kept: \`palisade sandbox probe|status|down --id ${result.id}\``);
        if (result.kubeconfig)
          say(`sandbox ${result.id}: kubectl --kubeconfig ${result.kubeconfig} get pods -A`);
        if (opts.agents) sayAgentSockets(say, result.id);
      }
      if (opts.agents) {
        const mismatches = compareMatrices(
          result.report.matrix,
          analyzeScenario(scenario, probes, externals),
        );
        if (mismatches.length > 0) {
          throw new CliError(
            `the probed matrix differs from \`palisade analyze\` in ${mismatches.length} cell(s):`,
            EXIT_FAILURE,
            mismatches,
          );
        }
        say('the probed matrix equals `palisade analyze`');
      }
    });

  sandbox
    .command('probe')
    .description('probe a kept sandbox again')
    .option('--id <id>', 'sandbox id (default: the only kept one)')
    .option(
      '-p, --port <port/protocol>',
      'probe, repeatable (default: the probes it was built with)',
      collectProbe,
    )
    .addOption(outputOption())
    .action(async (opts: ProbeOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      await requireMachine('routed');
      const box = await Sandbox.attach(chooseKept(opts.id));
      try {
        // A re-probe must open new flows: a UDP probe that reuses an earlier allowed flow's
        // source port would ride conntrack's ESTABLISHED state past a policy that now denies it.
        if (findCommand('conntrack')) await forgetUdpFlows(box);
        else
          ctx.stderr(
            'warning: conntrack not found: UDP cells may reflect flows opened before a policy change\n',
          );
        const ports = shared<Probe[] | undefined>(cmd, 'port');
        const output = shared<OutputFormat>(cmd, 'output');
        // A sandbox built with agents has their sockets; one without has no verdicts to read.
        const agents = box.agentDebugSockets().filter((a) => existsSync(a.socket));
        const cursor = agents.length > 0 ? await verdictCursor(agents).catch(() => undefined) : undefined;
        const report = await box.probe(dedupe(ports ?? box.plan.probes));
        printReport(ctx, report, output);
        if (cursor) {
          let events: VerdictEvent[] | undefined;
          let error: string | undefined;
          try {
            events = await readVerdicts(agents, cursor);
            // A record may still be on its way from a node's tcpdump: look once more.
            const unreported = deniedCells(report.matrix, [], events).some((c) => c.events.length === 0);
            if (unreported) {
              await new Promise((r) => setTimeout(r, 1000));
              events = await readVerdicts(agents, cursor);
            }
          } catch (e) {
            error = (e as Error).message;
          }
          printDenials(ctx, report, events, error, output, box.plan);
        }
      } finally {
        box.detach();
      }
    });

  addWatchOptions(
    sandbox
      .command('watch')
      .description(
        "stream the verdicts every node's kernel takes in a kept sandbox, with the policy and rule that took each",
      )
      .option('--id <id>', 'sandbox id (default: the only kept one)'),
  )
    .addHelpText(
      'after',
      `
Like \`palisade watch\`, merged over every node's agent (the NODE column says which). E.g.
  $ sudo palisade sandbox watch --verdict denied
  $ sudo palisade sandbox watch --id ID --pod shop/db --since 10m --no-follow -o json`,
    )
    .action(async (opts: WatchFlags & { id?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const store = StateStore.open(chooseKept(opts.id));
      const output = shared<OutputFormat>(cmd, 'output');
      const clients = store.state.plan.nodes.map((_, i) => new AgentClient(agentDebugSocket(store, i)));
      await streamVerdicts(ctx, clients, { ...opts, output: output === 'json' ? 'json' : 'table' });
    });

  sandbox
    .command('status')
    .description(
      'what a kept sandbox runs: nodes, pods, agents (with restarts), its API server and kubeconfig',
    )
    .option('--id <id>', 'sandbox id (default: the only kept one)')
    .addOption(outputOption())
    .action(async (opts: ProbeOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const id = chooseKept(opts.id);
      const status = await sandboxStatus(StateStore.open(id));
      if (shared<OutputFormat>(cmd, 'output') === 'json') ctx.stdout(toJSON(status));
      else ctx.stdout(renderSandboxStatus(status));
    });

  sandbox
    .command('down')
    .description('tear down kept sandboxes')
    .option('--id <id>', 'only this sandbox (default: every kept sandbox, and any whose builder died)')
    .action(async (opts: { id?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      await requireMachine('routed');
      const ids = opts.id !== undefined ? [opts.id] : StateStore.listUnowned();
      if (ids.length === 0) ctx.stderr('no sandbox to tear down\n');
      for (const id of ids) {
        if (!StateStore.exists(id))
          throw new InputError(
            `no sandbox ${id} (kept ones: ${StateStore.listUnowned().join(', ') || 'none'})`,
          );
        await teardownSandbox(StateStore.open(id));
        ctx.stderr(`sandbox ${id} removed\n`);
      }
    });
}
