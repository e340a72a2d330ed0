/**
 * Enforcement in a sandbox: the test API server in the fabric namespace (reachable from every
 * node namespace at CONTROL_ADDRESS) serving the scenario's objects, and one `palisade agent`
 * per node, each started inside its node's namespace so that it programs only that node's
 * iptables and ipsets.
 *
 * The host namespace reaches the API server through two relays (relay-main.ts): one in the
 * fabric namespace from a socket in the state directory to the server, one in the host
 * namespace from a free loopback port to that socket. `<state>/kubeconfig` points at the
 * loopback port, so `KUBECONFIG=<state>/kubeconfig kubectl ...` works from the host while the
 * sandbox lives; the agents use `<state>/agent-kubeconfig` (the server's fabric address).
 *
 * Every command is an argv template, so the lead can adjust them without touching the wiring.
 * Placeholders: {execPath} (this Node binary), {repo}, {node}, {kubeconfig}, {metricsAddress},
 * {debugSocket}, {objects}, {host}, {port}, and for relays {listen}, {connect}, {addressFile}.
 * Readiness: the API server answers GET /version, and each agent's /readyz is 200 on its
 * metrics address, both polled from inside a node namespace through that node's endpoint
 * process (the host namespace cannot reach them); the relayed server answers GET /version
 * from the host.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cidrContainsIP, parseCIDR, parseIP } from '../../compiler/validate/ip';
import { selfSignedCertificate } from '../apiserver/tls';
import type { K8sObject } from './k8s-objects';
import { API_SERVER_LOG, API_SERVER_ROLE } from './live/apiserver-restart';
import type { LiveClusterConfig } from './live/config';
import { ControlClient } from './control-client';
import { keyOf } from './live/informer';
import { KubeRest } from './live/kube-rest';
import { isReady } from './live/pod-status';
import { nodePodCIDRs, type SandboxPlan } from './plan';
import { sourceFile } from './source-file';
import { findPython } from './tools';
import type { EnforcementSetup, SandboxContext } from './sandbox';
import type { StateStore } from './state';
import { CONTROL_ADDRESS } from './topology';

export interface EnforcementLaunch {
  readonly apiServerArgv: readonly string[];
  readonly apiServerPort: number;
  /** The cluster simulator (scheduler, controllers, kubelets, agent supervisor). */
  readonly simulatorArgv: readonly string[];
  readonly agentArgv: readonly string[];
  /** A relay: forwards connections from {listen} to {connect}, writes its address to {addressFile}. */
  readonly relayArgv: readonly string[];
  /** host:port inside each node namespace. */
  readonly agentMetricsAddress: string;
  readonly readyTimeoutMs: number;
}

export const DEFAULT_ENFORCEMENT_LAUNCH: EnforcementLaunch = {
  apiServerArgv: [
    '{execPath}',
    '{repo}/dist/e2e/sandbox/live/apiserver-main.js',
    '--config',
    '{config}',
    '--host',
    '{host}',
    '--port',
    '{port}',
    '--objects',
    '{objects}',
    '--tls-key',
    '{tlsKey}',
  ],
  apiServerPort: 6443,
  simulatorArgv: ['{execPath}', '{repo}/dist/e2e/sandbox/live/simulator-main.js', '--config', '{config}'],
  agentArgv: [
    '{execPath}',
    '{repo}/dist/agent/cli/main.js',
    'agent',
    '--node-name',
    '{node}',
    '--kubeconfig',
    '{kubeconfig}',
    '--metrics-address',
    '{metricsAddress}',
    '--debug-socket',
    '{debugSocket}',
  ],
  relayArgv: [
    '{execPath}',
    '{repo}/dist/e2e/sandbox/relay-main.js',
    '--listen',
    '{listen}',
    '--connect',
    '{connect}',
    '--address-file',
    '{addressFile}',
  ],
  agentMetricsAddress: '127.0.0.1:9101',
  readyTimeoutMs: 30_000,
};

/** The launch with every agent on `backend` (iptables, the agent's default, or nftables). */
export function launchWithBackend(
  backend: 'iptables' | 'nftables',
  launch: EnforcementLaunch = DEFAULT_ENFORCEMENT_LAUNCH,
): EnforcementLaunch {
  return { ...launch, agentArgv: [...launch.agentArgv, '--backend', backend] };
}

export function fillTemplate(argv: readonly string[], values: Readonly<Record<string, string>>): string[] {
  return argv.map((arg) =>
    arg.replace(/\{([a-zA-Z]+)\}/g, (whole, key: string) => {
      const v = values[key];
      if (v === undefined) throw new Error(`unknown placeholder ${whole} in command template`);
      return v;
    }),
  );
}

/** The repository root (the directory holding package.json and dist/), from here or from dist/. */
export function repoRoot(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The last lines of a process log, for an error message (the log goes with the sandbox). */
function logTail(path: string, lines = 12): string {
  try {
    const text = readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines);
    return text.map((l) => `\n    | ${l}`).join('');
  } catch {
    return '';
  }
}

/** What enforcement started, for the state file and the user. */
export interface EnforcementAccess {
  /** The API server inside the sandbox (fabric namespace), as the agents reach it. */
  readonly apiServerUrl: string;
  /** The same server from the host namespace, through the relays. */
  readonly localApiServerUrl: string;
  /** A kubeconfig for `localApiServerUrl` (kubectl, client-node). */
  readonly kubeconfig: string;
}

/** Waits for a relay to write its bound address; fails when it exits first. */
async function relayAddress(
  ctx: SandboxContext,
  file: string,
  logName: string,
  alive: () => boolean,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    ctx.signal?.throwIfAborted();
    if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    if (!alive())
      throw new Error(`a relay exited while starting; its log ends:${logTail(ctx.store.logPath(logName))}`);
    if (Date.now() > deadline) throw new Error(`a relay did not listen within ${timeoutMs} ms (${file})`);
    await sleep(10);
  }
}

/** GET /version through `api` (from the host namespace) until it answers. */
async function waitApiServer(
  api: KubeRest,
  what: string,
  alive: () => boolean,
  logFile: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    signal?.throwIfAborted();
    if (!alive()) throw new Error(`${what} exited while starting; its log ends:${logTail(logFile)}`);
    try {
      await api.call('GET', '/version', undefined, undefined, 1000);
      return;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what} not reachable after ${timeoutMs} ms (${last}); its log ends:${logTail(logFile)}`,
      );
    await sleep(50);
  }
}

/**
 * The relays that make the API server reachable from the host namespace (see the header).
 * Returns the loopback URL.
 */
async function startRelays(
  ctx: SandboxContext,
  launch: EnforcementLaunch,
  common: Record<string, string>,
  apiPort: number,
): Promise<string> {
  const socket = ctx.store.socketPath('apiserver');
  const relays = [
    {
      side: 'fabric',
      ns: ctx.names.fabricNs,
      listen: `unix:${socket}`,
      connect: `tcp:${CONTROL_ADDRESS}:${apiPort}`,
    },
    { side: 'host', ns: undefined, listen: 'tcp:127.0.0.1:0', connect: `unix:${socket}` },
  ];
  const bound = new Map<string, string>();
  for (const r of relays) {
    const logName = `relay-${r.side}`;
    const addressFile = join(ctx.store.dir, `${logName}.address`);
    const argv = fillTemplate(launch.relayArgv, {
      ...common,
      listen: r.listen,
      connect: r.connect,
      addressFile,
    });
    const started = ctx.startProcess(r.ns, argv, `API server relay (${r.side})`, logName);
    let exited = false;
    started.child.once('exit', () => (exited = true));
    bound.set(r.side, await relayAddress(ctx, addressFile, logName, () => !exited, launch.readyTimeoutMs));
  }
  return `https://${bound.get('host')!}`;
}

/** One pod endpoint host per node (live/pod-endpoints.py), in the host namespaces: it enters pods' namespaces itself. */
async function startPodEndpoints(ctx: SandboxContext, timeoutMs: number): Promise<void> {
  const python = findPython();
  if (!python) throw new Error('python3 is required');
  const script = sourceFile(join('e2e', 'sandbox', 'live'), 'pod-endpoints.py');
  await Promise.all(
    ctx.plan.nodes.map(async (n, i) => {
      const socket = podEndpointsSocket(ctx.store, i);
      const started = ctx.startProcess(
        undefined,
        [python, script, '--socket', socket],
        `pod endpoints ${n.name}`,
        `pod-endpoints-n${i + 1}`,
      );
      let exited = false;
      started.child.once('exit', () => (exited = true));
      const client = await ControlClient.connect(
        socket,
        `pod endpoints of ${n.name}`,
        timeoutMs,
        () => !exited,
      );
      client.close();
    }),
  );
}

/** Fills the placeholders it has values for and leaves the others for later. */
function fillSome(argv: readonly string[], values: Readonly<Record<string, string>>): string[] {
  return argv.map((arg) => arg.replace(/\{([a-zA-Z]+)\}/g, (whole, key: string) => values[key] ?? whole));
}

/** The objects of a plan alone (no agents, so no labels or policies matter): namespaces and pods. */
export function planObjects(plan: SandboxPlan): K8sObject[] {
  const namespaces = [...new Set(plan.pods.map((p) => p.key.split('/')[0]))];
  return [
    ...namespaces.map((name): K8sObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })),
    ...plan.pods.map((p): K8sObject => {
      const [namespace, name] = p.key.split('/');
      return {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace },
        spec: {
          nodeName: p.node,
          ...(p.hostNetwork ? { hostNetwork: true } : {}),
          containers: [{ name: 'main', image: 'palisade-sandbox/endpoint' }],
        },
      };
    }),
  ];
}

const HOSTNAME_LABEL = 'kubernetes.io/hostname';

/**
 * What each plan node's Node object says, for the simulator that registers it (the one source
 * of Node objects): the labels, addresses and pod CIDRs of the scenario's Node object when
 * `objects` has one, else the hostname label, the wired addresses and the plan's CIDRs.
 */
export function nodeDeclarations(
  plan: SandboxPlan,
  objects: readonly K8sObject[],
): Map<string, { labels: Record<string, string>; addresses: string[]; podCIDRs: string[] }> {
  const declared = new Map(
    objects.filter((o) => o.kind === 'Node').map((o) => [(o.metadata as { name: string }).name, o]),
  );
  for (const name of declared.keys())
    if (!plan.nodes.some((n) => n.name === name))
      throw new Error(`the objects declare Node ${name}, which the sandbox does not have`);
  return new Map(
    plan.nodes.map((n) => {
      const wired = [n.ipv4, n.ipv6].filter((ip): ip is string => ip !== undefined);
      const obj = declared.get(n.name);
      if (!obj)
        return [
          n.name,
          { labels: { [HOSTNAME_LABEL]: n.name }, addresses: wired, podCIDRs: nodePodCIDRs(plan, n.name) },
        ];
      const meta = obj.metadata as { labels?: Record<string, string> };
      const spec = (obj.spec ?? {}) as { podCIDRs?: string[] };
      const status = (obj.status ?? {}) as { addresses?: { type?: string; address?: string }[] };
      const addresses = (status.addresses ?? [])
        .filter((a) => a.type === 'InternalIP' && typeof a.address === 'string')
        .map((a) => a.address!);
      for (const ip of wired)
        if (!addresses.includes(ip))
          throw new Error(`Node ${n.name} does not list the address ${ip} the sandbox wires it with`);
      const podCIDRs =
        spec.podCIDRs && spec.podCIDRs.length > 0 ? [...spec.podCIDRs] : nodePodCIDRs(plan, n.name);
      return [n.name, { labels: { ...meta.labels }, addresses, podCIDRs }];
    }),
  );
}

/** Scenario pods outside their node's CIDRs, which a bridged pod of that node reaches on-link. */
function onLinkExtra(plan: SandboxPlan, node: string): string[] {
  const cidrs = nodePodCIDRs(plan, node)
    .map((c) => parseCIDR(c))
    .filter((c) => c !== undefined);
  const out: string[] = [];
  for (const p of plan.pods.filter((x) => x.node === node && !x.hostNetwork)) {
    for (const ip of [p.ipv4, p.ipv6]) {
      const parsed = ip === undefined ? undefined : parseIP(ip);
      if (parsed && !cidrs.some((c) => cidrContainsIP(c, parsed)))
        out.push(`${ip}/${parsed.family === 4 ? 32 : 128}`);
    }
  }
  return out;
}

/** Scenario pods inside the node's CIDRs that live on other nodes (a bridged pod must not ARP for them). */
function offLink(plan: SandboxPlan, node: string): string[] {
  const cidrs = nodePodCIDRs(plan, node)
    .map((c) => parseCIDR(c))
    .filter((c) => c !== undefined);
  const out: string[] = [];
  for (const p of plan.pods.filter((x) => x.node !== node && !x.hostNetwork)) {
    for (const ip of [p.ipv4, p.ipv6]) {
      const parsed = ip === undefined ? undefined : parseIP(ip);
      if (parsed && cidrs.some((c) => cidrContainsIP(c, parsed)))
        out.push(`${ip}/${parsed.family === 4 ? 32 : 128}`);
    }
  }
  return out;
}

function withoutStatus(o: K8sObject): K8sObject {
  if (o.kind !== 'Pod') return o;
  const { status: _status, ...rest } = o;
  return rest as K8sObject;
}

async function waitAllPodsReady(
  api: KubeRest,
  expected: number,
  timeoutMs: number,
  simulatorLog: string,
  alive: () => boolean,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    signal?.throwIfAborted();
    if (!alive()) throw new Error(`the cluster simulator exited; its log ends:${logTail(simulatorLog)}`);
    const { items } = await api.list('/api/v1/pods');
    const notReady = items.filter((p) => !isReady(p)).map((p) => keyOf(p));
    if (items.length >= expected && notReady.length === 0) return;
    last = `${items.length} pods (${expected} expected), not ready: ${notReady.slice(0, 8).join(', ')}`;
    if (Date.now() > deadline)
      throw new Error(
        `pods not ready after ${timeoutMs} ms: ${last}; the simulator's log ends:${logTail(simulatorLog)}`,
      );
    await sleep(50);
  }
}

/**
 * The live cluster of a sandbox (always: pods are wired by it) and, with `agents`, one
 * `palisade agent` per node run by the simulator's agent supervisor:
 *   TLS certificate and token ── API server (fabric namespace) ── relays ── kubeconfigs
 *   ── pod endpoint hosts (one per node) ── cluster simulator ── every pod Ready
 */
export function liveCluster(
  objects: readonly K8sObject[],
  launch: EnforcementLaunch = DEFAULT_ENFORCEMENT_LAUNCH,
  agents = true,
): EnforcementSetup {
  return async (ctx) => {
    const repo = repoRoot();
    const id = ctx.store.state.id;
    const dir = ctx.store.dir;
    const tls = selfSignedCertificate(['127.0.0.1', CONTROL_ADDRESS]);
    const token = randomBytes(32).toString('base64url');
    const files = {
      objects: join(dir, 'objects.json'),
      token: join(dir, 'token'),
      ca: join(dir, 'ca.crt'),
      key: join(dir, 'tls.key'),
      config: join(dir, 'live-cluster.json'),
      agentKubeconfig: join(dir, 'agent-kubeconfig'),
      kubeconfig: join(dir, 'kubeconfig'),
    };
    writeFileSync(files.token, token, { mode: 0o600 });
    writeFileSync(files.ca, tls.cert);
    writeFileSync(files.key, tls.key, { mode: 0o600 });
    const nodes = nodeDeclarations(ctx.plan, objects);
    // The simulator registers the Nodes (with what the objects declare of them): not the file.
    writeFileSync(files.objects, JSON.stringify(objects.filter((o) => o.kind !== 'Node').map(withoutStatus)));
    const apiServerUrl = `https://${CONTROL_ADDRESS}:${launch.apiServerPort}`;
    writeFileSync(files.agentKubeconfig, kubeconfigJson(apiServerUrl, token, tls.cert), { mode: 0o600 });
    const common = {
      execPath: process.execPath,
      repo,
      kubeconfig: files.agentKubeconfig,
      objects: files.objects,
      config: files.config,
      tlsKey: files.key,
    };

    const config: LiveClusterConfig = {
      id,
      topology: ctx.store.state.topology,
      apiSocket: ctx.store.socketPath('apiserver-direct'),
      tokenFile: files.token,
      caFile: files.ca,
      nodes: ctx.plan.nodes.map((n, i) => ({
        name: n.name,
        ns: ctx.names.nodeNs(n.name),
        ...(n.ipv4 ? { ipv4: n.ipv4 } : {}),
        ...(n.ipv6 ? { ipv6: n.ipv6 } : {}),
        ...nodes.get(n.name)!,
        endpointSocket: ctx.store.socketPath(`n${i + 1}`),
        podEndpointsSocket: podEndpointsSocket(ctx.store, i),
        onLinkExtra: onLinkExtra(ctx.plan, n.name),
        offLink: offLink(ctx.plan, n.name),
      })),
      reserved: ctx.plan.pods
        .filter((p) => !p.hostNetwork)
        .map((p) => ({
          key: p.key,
          node: p.node,
          ips: [p.ipv4, p.ipv6].filter((ip): ip is string => ip !== undefined),
        })),
      probePorts: ctx.plan.probes,
      ...(agents
        ? {
            agents: {
              argv: fillSome(launch.agentArgv, {
                ...common,
                metricsAddress: launch.agentMetricsAddress,
              }),
              metricsAddress: launch.agentMetricsAddress,
              debugSockets: Object.fromEntries(
                ctx.plan.nodes.map((n, i) => [n.name, agentDebugSocket(ctx.store, i)]),
              ),
              logFiles: Object.fromEntries(
                ctx.plan.nodes.map((n, i) => [n.name, ctx.store.logPath(`agent-n${i + 1}`)]),
              ),
              toolShimDirs: Object.fromEntries(
                ctx.plan.nodes.map((n, i) => [n.name, agentToolShimDir(ctx.store, i)]),
              ),
              xtablesLocks: Object.fromEntries(
                ctx.plan.nodes.map((n, i) => [n.name, agentXtablesLock(ctx.store, i)]),
              ),
            },
          }
        : {}),
      binDir: join(repo, 'bin'),
      podsDir: join(dir, 'pods'),
    };
    mkdirSync(config.podsDir, { recursive: true });
    for (const dir of Object.values(config.agents?.toolShimDirs ?? {})) mkdirSync(dir, { recursive: true });
    writeFileSync(files.config, JSON.stringify(config, null, 1));

    const api = ctx.startProcess(
      ctx.names.fabricNs,
      fillTemplate(launch.apiServerArgv, {
        ...common,
        host: CONTROL_ADDRESS,
        port: String(launch.apiServerPort),
      }),
      API_SERVER_ROLE,
      API_SERVER_LOG,
    );
    let apiExited = false;
    api.child.once('exit', () => (apiExited = true));
    const localApiServerUrl = await startRelays(ctx, launch, common, launch.apiServerPort);
    await startPodEndpoints(ctx, launch.readyTimeoutMs);
    const kubeconfig = files.kubeconfig;
    writeFileSync(kubeconfig, kubeconfigJson(localApiServerUrl, token, tls.cert), { mode: 0o600 });
    const rest = KubeRest.fromKubeconfig(kubeconfig);
    try {
      await waitApiServer(
        rest,
        'the API server',
        () => !apiExited,
        ctx.store.logPath(API_SERVER_LOG),
        launch.readyTimeoutMs,
        ctx.signal,
      );
      ctx.log(`sandbox ${id}: API server at ${apiServerUrl}`);
      ctx.log(
        `sandbox ${id}: kubectl works while it runs (as root): kubectl --kubeconfig ${kubeconfig} get pods -A`,
      );
      const simulator = ctx.startProcess(
        undefined,
        fillTemplate(launch.simulatorArgv, common),
        'cluster simulator',
        'simulator',
      );
      let simExited = false;
      simulator.child.once('exit', () => (simExited = true));
      const expected = objects.filter((o) => o.kind === 'Pod').length + (agents ? ctx.plan.nodes.length : 0);
      await waitAllPodsReady(
        rest,
        expected,
        launch.readyTimeoutMs,
        ctx.store.logPath('simulator'),
        () => !simExited,
        ctx.signal,
      );
      if (agents) ctx.log(`sandbox ${id}: ${ctx.plan.nodes.length} agents ready (first apply done)`);
    } finally {
      await rest.close();
    }
    return { apiServerUrl, localApiServerUrl, kubeconfig } satisfies EnforcementAccess;
  };
}

/** The live cluster with one agent per node enforcing its policies. */
export function enforcement(
  objects: readonly K8sObject[],
  launch: EnforcementLaunch = DEFAULT_ENFORCEMENT_LAUNCH,
): EnforcementSetup {
  return liveCluster(objects, launch, true);
}

/** The control socket of the pod endpoint host of the plan's `nodeIndex`-th node (0-based). */
export function podEndpointsSocket(store: Pick<StateStore, 'socketPath'>, nodeIndex: number): string {
  return store.socketPath(`pods-n${nodeIndex + 1}`);
}

/** The debug socket of the agent of the plan's `nodeIndex`-th node (0-based). */
export function agentDebugSocket(store: Pick<StateStore, 'socketPath'>, nodeIndex: number): string {
  return store.socketPath(`agent-n${nodeIndex + 1}`);
}

/** The directory first on the PATH of the agent of the plan's `nodeIndex`-th node (0-based). */
export function agentToolShimDir(store: Pick<StateStore, 'dir'>, nodeIndex: number): string {
  return join(store.dir, 'tools', `n${nodeIndex + 1}`);
}

/** The xtables lock file of the agent of the plan's `nodeIndex`-th node (0-based). */
export function agentXtablesLock(store: Pick<StateStore, 'dir'>, nodeIndex: number): string {
  return join(store.dir, `xtables-n${nodeIndex + 1}.lock`);
}

/** A kubeconfig for the sandbox's HTTPS API server with its token (JSON is valid YAML). */
function kubeconfigJson(server: string, token: string, ca: string): string {
  const name = 'palisade-sandbox';
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name, cluster: { server, 'certificate-authority-data': Buffer.from(ca).toString('base64') } },
    ],
    users: [{ name, user: { token } }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    'current-context': name,
  });
}
