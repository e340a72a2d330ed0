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
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { K8sObject } from './k8s-objects';
import type { EnforcementSetup, SandboxContext } from './sandbox';
import type { StateStore } from './state';
import { CONTROL_ADDRESS } from './topology';

export interface EnforcementLaunch {
  readonly apiServerArgv: readonly string[];
  readonly apiServerPort: number;
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
    '{repo}/dist/e2e/apiserver/main.js',
    '--host',
    '{host}',
    '--port',
    '{port}',
    '--objects',
    '{objects}',
  ],
  apiServerPort: 6443,
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

/** Polls `url` from inside node `node`'s namespace until it answers 200. */
async function waitHttpOk(
  ctx: SandboxContext,
  node: string,
  url: string,
  what: string,
  logName: string,
  alive: () => boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    ctx.signal?.throwIfAborted();
    if (!alive())
      throw new Error(`${what} exited while starting; its log ends:${logTail(ctx.store.logPath(logName))}`);
    try {
      const r = await ctx.nodeClient(node).request({ op: 'http-get', url, timeoutMs: 1000 }, 5000);
      if (r.status === 200) return;
      last = `HTTP ${r.status} ${r.body.slice(0, 200)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what} not ready after ${timeoutMs} ms (${url}: ${last}); its log ends:${logTail(ctx.store.logPath(logName))}`,
      );
    }
    await sleep(100);
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

/** GET url from this (the host) namespace until it answers 200. */
async function waitLocalHttpOk(
  url: string,
  what: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    signal?.throwIfAborted();
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(`${what} not reachable after ${timeoutMs} ms (${url}: ${last})`);
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
  const url = `http://${bound.get('host')!}`;
  await waitLocalHttpOk(`${url}/version`, 'the relayed API server', launch.readyTimeoutMs, ctx.signal);
  return url;
}

export function enforcement(
  objects: readonly K8sObject[],
  launch: EnforcementLaunch = DEFAULT_ENFORCEMENT_LAUNCH,
): EnforcementSetup {
  return async (ctx) => {
    const repo = repoRoot();
    const objectsFile = join(ctx.store.dir, 'objects.json');
    writeFileSync(objectsFile, JSON.stringify(objects));
    const apiServerUrl = `http://${CONTROL_ADDRESS}:${launch.apiServerPort}`;
    const agentKubeconfig = join(ctx.store.dir, 'agent-kubeconfig');
    writeFileSync(agentKubeconfig, kubeconfigJson(apiServerUrl), { mode: 0o600 });
    const common = { execPath: process.execPath, repo, kubeconfig: agentKubeconfig, objects: objectsFile };

    const firstNode = ctx.plan.nodes[0].name;
    const api = ctx.startProcess(
      ctx.names.fabricNs,
      fillTemplate(launch.apiServerArgv, {
        ...common,
        host: CONTROL_ADDRESS,
        port: String(launch.apiServerPort),
      }),
      'test API server',
      'apiserver',
    );
    let apiExited = false;
    api.child.once('exit', () => (apiExited = true));
    await waitHttpOk(
      ctx,
      firstNode,
      `${apiServerUrl}/version`,
      'the test API server',
      'apiserver',
      () => !apiExited,
      launch.readyTimeoutMs,
    );
    ctx.log(`sandbox ${ctx.store.state.id}: API server at ${apiServerUrl}`);

    const localApiServerUrl = await startRelays(ctx, launch, common, launch.apiServerPort);
    const kubeconfig = join(ctx.store.dir, 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigJson(localApiServerUrl), { mode: 0o600 });
    ctx.log(
      `sandbox ${ctx.store.state.id}: kubectl works while it runs (as root): kubectl --kubeconfig ${kubeconfig} get pods -A`,
    );

    await Promise.all(
      ctx.plan.nodes.map(async (n, i) => {
        const argv = fillTemplate(launch.agentArgv, {
          ...common,
          node: n.name,
          metricsAddress: launch.agentMetricsAddress,
          debugSocket: agentDebugSocket(ctx.store, i),
        });
        const agent = ctx.startProcess(ctx.names.nodeNs(n.name), argv, `agent ${n.name}`, `agent-n${i + 1}`);
        let exited = false;
        agent.child.once('exit', () => (exited = true));
        const url = `http://${launch.agentMetricsAddress}/readyz`;
        await waitHttpOk(
          ctx,
          n.name,
          url,
          `the agent of node ${n.name}`,
          `agent-n${i + 1}`,
          () => !exited,
          launch.readyTimeoutMs,
        );
      }),
    );
    ctx.log(`sandbox ${ctx.store.state.id}: ${ctx.plan.nodes.length} agents ready (first apply done)`);
    return { apiServerUrl, localApiServerUrl, kubeconfig } satisfies EnforcementAccess;
  };
}

/** The debug socket of the agent of the plan's `nodeIndex`-th node (0-based). */
export function agentDebugSocket(store: Pick<StateStore, 'socketPath'>, nodeIndex: number): string {
  return store.socketPath(`agent-n${nodeIndex + 1}`);
}

/** A kubeconfig for a plain-HTTP server without authentication (JSON is valid YAML). */
function kubeconfigJson(server: string): string {
  const name = 'palisade-sandbox';
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server } }],
    users: [{ name, user: {} }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    'current-context': name,
  });
}
