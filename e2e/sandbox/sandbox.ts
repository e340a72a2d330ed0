/**
 * A simulated cluster in network namespaces, from a SandboxPlan: build, probe, tear down.
 *
 *   plan ──topologyStages──▶ namespaces, sysctls, links, addresses, routes   (build.ts order)
 *        ──hosts──▶ one endpoint process per namespace (echo servers, prober, SCTP helper)
 *        ──enforcement (optional)──▶ API server + one agent per node namespace
 *   probe ──▶ real packets between every ordered pair ──▶ matrix (analyze's JSON shape)
 *   teardown ──▶ processes killed, namespaces deleted, state removed
 *
 * Promise: whatever happens after `create` starts (error, abort signal, crash), everything the
 * sandbox made is in its state file first, and `teardown` (or `palisade sandbox down`) removes
 * all of it. Nothing is created in the host's own network namespace.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient, PodEndpointView, type EndpointClient } from './control-client';
import {
  agentDebugSocket,
  DEFAULT_ENFORCEMENT_LAUNCH,
  liveCluster,
  planObjects,
  podEndpointsSocket,
} from './enforcement';
import { hosts, livePodHostId, probeEndpoints, type Host, type LivePod } from './endpoints';
import { AGENT_LABEL } from './live/config';
import { KubeRest } from './live/kube-rest';
import { addNamespaces, inNetns, ipBatch, listNamespaces, setSysctls } from './netns';
import { isSandboxNamespace, newSandboxId, sandboxNames, type SandboxNames } from './names';
import { validatePlan, type PlanProbe, type SandboxPlan, type Topology } from './plan';
import { findPython } from './tools';
import { sourceFile } from './source-file';
import {
  DEFAULT_PROBE_SETTINGS,
  probeEndpointsNow,
  type ProbeReport,
  type ProbeRunSettings,
} from './probe-run';
import { isRunning, selfProcess, startDetached, type StartedProcess } from './processes';
import { forEachLimited } from './run';
import { StateStore } from './state';
import { teardownSandbox } from './teardown';
import { topologyStages, type BuildOp } from './topology';

/** What an enforcement setup (API server + agents) gets to work with. */
export interface SandboxContext {
  readonly plan: SandboxPlan;
  readonly names: SandboxNames;
  readonly store: StateStore;
  readonly signal: AbortSignal | undefined;
  /** Starts a tracked, detached process, inside `ns` when given (else in the host namespace). */
  startProcess(
    ns: string | undefined,
    argv: readonly string[],
    role: string,
    logName: string,
  ): StartedProcess;
  /** The endpoint of a node's namespace, e.g. to poll an agent's HTTP endpoint from inside it. */
  nodeClient(node: string): ControlClient;
  log(line: string): void;
}

/** What an enforcement setup reports: where its API server is, from inside and from the host. */
export interface EnforcementResult {
  readonly apiServerUrl?: string;
  readonly localApiServerUrl?: string;
  readonly kubeconfig?: string;
}

export type EnforcementSetup = (ctx: SandboxContext) => Promise<EnforcementResult>;

export interface SandboxOptions {
  readonly topology: Topology;
  /** Left running when the caller exits (recorded in the state file). */
  readonly keep?: boolean;
  /** Starts the API server and agents; absent = no enforcement (everything reachable). */
  readonly enforcement?: EnforcementSetup;
  /** The compiled endpoint-main.js; defaults to the one beside this file in dist/. */
  readonly endpointScript?: string;
  readonly signal?: AbortSignal;
  readonly log?: (line: string) => void;
  /** How long endpoint processes may take to serve their control socket. */
  readonly startTimeoutMs?: number;
}

export interface BuildTimings {
  readonly networkMs: number;
  readonly endpointsMs: number;
  readonly enforcementMs: number;
}

function defaultEndpointScript(): string {
  const compiled = join(__dirname, 'endpoint-main.js');
  if (!existsSync(compiled)) throw new Error(`${compiled} is missing: run \`npm run build\` first`);
  return compiled;
}

async function uniqueId(): Promise<string> {
  const existing = await listNamespaces();
  for (;;) {
    const id = newSandboxId();
    if (!StateStore.exists(id) && !existing.some((n) => isSandboxNamespace(id, n))) return id;
  }
}

async function runOp(op: BuildOp): Promise<void> {
  if (op.kind === 'sysctl') await setSysctls(op.ns, op.settings);
  else if (op.kind === 'ip') await ipBatch(op.ns, op.lines);
  else throw new Error(`unexpected ${op.kind} operation`);
}

export class Sandbox {
  private readonly podHosts = new Map<string, ControlClient>();

  private constructor(
    readonly store: StateStore,
    readonly names: SandboxNames,
    private readonly clients: Map<string, ControlClient>,
    readonly timings: BuildTimings | undefined,
  ) {}

  get id(): string {
    return this.store.state.id;
  }

  get plan(): SandboxPlan {
    return this.store.state.plan;
  }

  /** With agents: the kubeconfig (host namespace) of the sandbox's API server, else undefined. */
  get kubeconfig(): string | undefined {
    return this.store.state.kubeconfig;
  }

  /** With agents: the API server's URL from the host namespace (plain HTTP, loopback). */
  get localApiServerUrl(): string | undefined {
    return this.store.state.localApiServerUrl;
  }

  /** With agents: each node's agent debug socket (HTTP over a Unix socket, see agent/daemon). */
  agentDebugSockets(): { node: string; socket: string }[] {
    if (!this.store.state.agents) return [];
    return this.plan.nodes.map((n, i) => ({ node: n.name, socket: agentDebugSocket(this.store, i) }));
  }

  static async create(plan: SandboxPlan, opts: SandboxOptions): Promise<Sandbox> {
    const problems = validatePlan(plan);
    if (problems.length > 0) throw new Error(`invalid sandbox plan:\n  ${problems.join('\n  ')}`);
    const endpointScript = opts.endpointScript ?? defaultEndpointScript();
    const python = findPython();
    if (!python) throw new Error('python3 is required for SCTP probes');
    const id = await uniqueId();
    const names = sandboxNames(id, plan);
    const store = StateStore.create({
      version: 1,
      id,
      createdAt: new Date().toISOString(),
      topology: opts.topology,
      plan,
      agents: opts.enforcement !== undefined,
      phase: 'building',
      kept: opts.keep === true,
      owner: selfProcess('palisade sandbox'),
      namespaces: [],
      processes: [],
    });
    const log = opts.log ?? (() => undefined);
    const clients = new Map<string, ControlClient>();
    try {
      const t0 = Date.now();
      for (const stage of topologyStages(plan, names, opts.topology)) {
        opts.signal?.throwIfAborted();
        const netns = stage.ops.filter((op) => op.kind === 'netns').map((op) => op.ns);
        store.addNamespaces(netns);
        await addNamespaces(netns);
        await forEachLimited(
          stage.ops.filter((op) => op.kind !== 'netns'),
          8,
          runOp,
        );
      }
      const t1 = Date.now();
      log(`sandbox ${id}: network built (${opts.topology}) in ${t1 - t0} ms`);

      const ctx = Sandbox.context(plan, names, store, clients, opts.signal, log);
      await Sandbox.startEndpoints(hosts(plan, names), ctx, clients, {
        endpointScript,
        python,
        sctpScript: sourceFile(join('e2e', 'sandbox'), 'sctp.py'),
        ports: plan.probes,
        timeoutMs: opts.startTimeoutMs ?? 20_000,
        signal: opts.signal,
      });
      const t2 = Date.now();
      log(`sandbox ${id}: ${clients.size} endpoints serving in ${t2 - t1} ms`);

      {
        opts.signal?.throwIfAborted();
        // The live cluster wires every pod, scenario pods included; agents only with enforcement.
        const setup = opts.enforcement ?? liveCluster(planObjects(plan), DEFAULT_ENFORCEMENT_LAUNCH, false);
        const { apiServerUrl, localApiServerUrl, kubeconfig } = await setup(ctx);
        store.update((s) => ({
          ...s,
          ...(apiServerUrl ? { apiServerUrl } : {}),
          ...(localApiServerUrl ? { localApiServerUrl } : {}),
          ...(kubeconfig ? { kubeconfig } : {}),
        }));
      }
      const t3 = Date.now();
      log(
        `sandbox ${id}: ${opts.enforcement ? 'cluster and enforcement' : 'cluster'} ready in ${t3 - t2} ms`,
      );
      opts.signal?.throwIfAborted();
      store.update((s) => ({ ...s, phase: 'ready' }));
      return new Sandbox(store, names, clients, {
        networkMs: t1 - t0,
        endpointsMs: t2 - t1,
        enforcementMs: t3 - t2,
      });
    } catch (e) {
      for (const c of clients.values()) c.close();
      await teardownSandbox(store);
      throw e;
    }
  }

  /** Reconnects to a kept sandbox. */
  static async attach(id: string): Promise<Sandbox> {
    const store = StateStore.open(id);
    if (store.state.phase !== 'ready') throw new Error(`sandbox ${id} is ${store.state.phase}, not ready`);
    const dead = store.state.processes.filter((p) => !isRunning(p));
    if (dead.length > 0)
      throw new Error(`sandbox ${id}: ${dead.map((p) => p.role).join(', ')} no longer running`);
    const names = sandboxNames(id, store.state.plan);
    const clients = new Map<string, ControlClient>();
    try {
      await Promise.all(
        hosts(store.state.plan, names).map(async (h) => {
          clients.set(h.id, await ControlClient.connect(store.socketPath(h.id), h.role, 3000));
        }),
      );
    } catch (e) {
      for (const c of clients.values()) c.close();
      throw e;
    }
    return new Sandbox(store, names, clients, undefined);
  }

  private static context(
    plan: SandboxPlan,
    names: SandboxNames,
    store: StateStore,
    clients: Map<string, ControlClient>,
    signal: AbortSignal | undefined,
    log: (line: string) => void,
  ): SandboxContext {
    return {
      plan,
      names,
      store,
      signal,
      log,
      startProcess(ns, argv, role, logName) {
        const started = startDetached(ns ? inNetns(ns, argv) : argv, {
          role,
          logPath: store.logPath(logName),
          sandboxId: store.state.id,
        });
        store.addProcess(started.tracked);
        return started;
      },
      nodeClient(node) {
        const idx = plan.nodes.findIndex((n) => n.name === node);
        const c = clients.get(`n${idx + 1}`);
        if (idx < 0 || !c) throw new Error(`no endpoint in the namespace of node ${node}`);
        return c;
      },
    };
  }

  private static async startEndpoints(
    list: readonly Host[],
    ctx: SandboxContext,
    clients: Map<string, ControlClient>,
    o: {
      endpointScript: string;
      python: string;
      sctpScript: string;
      ports: readonly PlanProbe[];
      timeoutMs: number;
      signal: AbortSignal | undefined;
    },
  ): Promise<void> {
    const ports = o.ports.filter((p) => p.protocol !== 'SCTP').map((p) => `${p.port}/${p.protocol}`);
    const started = list.map((h) => {
      const argv = [
        process.execPath,
        o.endpointScript,
        '--socket',
        ctx.store.socketPath(h.id),
        '--python',
        o.python,
      ];
      argv.push('--sctp-script', o.sctpScript, '--ports', ports.join(','));
      return { h, p: ctx.startProcess(h.ns, argv, `endpoint ${h.role}`, `endpoint-${h.id}`) };
    });
    await Promise.all(
      started.map(async ({ h, p }) => {
        let exited = false;
        p.child.once('exit', () => (exited = true));
        const alive = (): boolean => !exited && o.signal?.aborted !== true;
        const c = await ControlClient.connect(ctx.store.socketPath(h.id), h.role, o.timeoutMs, alive);
        clients.set(h.id, c);
        await c.request({ op: 'ping' }, 5000);
      }),
    );
  }

  /**
   * The pods the API server has Running with an address, but the sandbox's own (agent) pods:
   * the rows and columns of a probe.
   */
  async livePods(): Promise<LivePod[]> {
    const kubeconfig = this.kubeconfig;
    if (!kubeconfig) throw new Error(`sandbox ${this.id} has no API server`);
    const api = KubeRest.fromKubeconfig(kubeconfig);
    try {
      const { items } = await api.list('/api/v1/pods');
      return items.flatMap((p): LivePod[] => {
        const meta = (p.metadata ?? {}) as {
          name: string;
          namespace: string;
          uid: string;
          labels?: Record<string, string>;
          deletionTimestamp?: string;
        };
        const spec = (p.spec ?? {}) as { nodeName?: string; hostNetwork?: boolean };
        const status = (p.status ?? {}) as { phase?: string; podIPs?: { ip: string }[] };
        const ips = (status.podIPs ?? []).map((x) => x.ip);
        if (meta.labels?.[AGENT_LABEL] === 'true' || meta.deletionTimestamp || status.phase !== 'Running')
          return [];
        if (ips.length === 0 || !spec.nodeName) return [];
        return [
          {
            key: `${meta.namespace}/${meta.name}`,
            uid: meta.uid,
            node: spec.nodeName,
            hostNetwork: spec.hostNetwork === true,
            ...(ips.find((ip) => !ip.includes(':')) ? { ipv4: ips.find((ip) => !ip.includes(':')) } : {}),
            ...(ips.find((ip) => ip.includes(':')) ? { ipv6: ips.find((ip) => ip.includes(':')) } : {}),
          },
        ];
      });
    } finally {
      await api.close();
    }
  }

  /** The control client of a node's pod endpoint host, connected on first use. */
  async podHost(node: string): Promise<ControlClient> {
    const existing = this.podHosts.get(node);
    if (existing) return existing;
    const i = this.plan.nodes.findIndex((n) => n.name === node);
    if (i < 0) throw new Error(`no node ${node} in sandbox ${this.id}`);
    const client = await ControlClient.connect(
      podEndpointsSocket(this.store, i),
      `pod endpoints of ${node}`,
      3000,
    );
    this.podHosts.set(node, client);
    return client;
  }

  /** Probes every pair of live pods (and external hosts) with real packets. */
  async probe(
    probes: readonly PlanProbe[],
    settings: ProbeRunSettings = DEFAULT_PROBE_SETTINGS,
  ): Promise<ProbeReport> {
    return this.probePods(await this.livePods(), probes, settings);
  }

  /** Probes every pair of the given pods (and external hosts). */
  async probePods(
    pods: readonly LivePod[],
    probes: readonly PlanProbe[],
    settings: ProbeRunSettings = DEFAULT_PROBE_SETTINGS,
  ): Promise<ProbeReport> {
    const clients = new Map<string, EndpointClient>(this.clients);
    for (const p of pods) {
      if (!p.hostNetwork)
        clients.set(livePodHostId(this.plan, p), new PodEndpointView(await this.podHost(p.node), p.uid));
    }
    return probeEndpointsNow(probeEndpoints(this.plan, pods), probes, clients, settings);
  }

  /** Leaves the sandbox running (kept) and drops the control connections. */
  detach(): void {
    this.store.update((s) => ({ ...s, kept: true }));
    this.closeClients();
  }

  private closeClients(): void {
    for (const c of [...this.clients.values(), ...this.podHosts.values()]) c.close();
    this.clients.clear();
    this.podHosts.clear();
  }

  async teardown(): Promise<void> {
    this.closeClients();
    await teardownSandbox(this.store);
  }
}
