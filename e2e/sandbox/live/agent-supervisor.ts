/**
 * The sandbox's agents as the kubelet runs a DaemonSet's pods: each node's agent pod
 * (kube-system/palisade-agent-<node>, hostNetwork) is a `palisade agent` process in the node's
 * namespace, restarted with backoff when it exits (500 ms doubling to 10 s, reset after 10 s of
 * running, as the kubelet's CrashLoopBackOff, only faster), its restarts counted in the pod's
 * status; Ready follows the agent's /readyz, polled from inside the node's namespace.
 *
 * Agents start only once `release()` is called: the simulator first wires the pods that
 * existed at its start, so an agent's first apply already covers them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { ControlClient } from '../control-client';
import { fillTemplate } from '../enforcement';
import { inNetns } from '../netns';
import type { LiveAgents, LiveClusterConfig, LiveNode } from './config';
import { KubeApiError, type Json, type KubeRest } from './kube-rest';
import { runningStatus, type ContainerRun } from './pod-status';

const INITIAL_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;
const STABLE_AFTER_MS = 10_000;
const READY_POLL_MS = 250;

interface Supervised {
  readonly pod: Json;
  readonly node: LiveNode;
  child?: ChildProcess;
  startedAt: number;
  startedIso: string;
  restarts: number;
  backoffMs: number;
  ready: boolean;
  waiting?: { reason: string; message: string };
  lastTerminated?: { exitCode: number; reason: string; finishedAt: string };
  stopped: boolean;
  timer?: NodeJS.Timeout;
  poll?: NodeJS.Timeout;
}

function iso(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** PATH plus the sbin directories (agents spawn iptables-restore and ipset by name). */
function withSbin(path: string | undefined): string {
  const dirs = (path ?? '').split(':').filter((d) => d !== '');
  for (const d of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(':');
}

/** The agent's environment: its tool shim directory first on PATH, its node's xtables lock. */
function agentEnv(node: string, agents: LiveAgents): NodeJS.ProcessEnv {
  const shims = agents.toolShimDirs?.[node];
  const lock = agents.xtablesLocks?.[node];
  return {
    ...process.env,
    PATH: shims ? `${shims}:${withSbin(process.env.PATH)}` : withSbin(process.env.PATH),
    ...(lock ? { XTABLES_LOCKFILE: lock } : {}),
  };
}

export class AgentSupervisor {
  private readonly agents = new Map<string, Supervised>();
  private released = false;

  constructor(
    private readonly config: LiveClusterConfig,
    private readonly api: KubeRest,
    private readonly nodeEndpoints: ReadonlyMap<string, ControlClient>,
    private readonly log: (line: string) => void,
  ) {}

  /** Restart counts by node, for `palisade sandbox status`. */
  restarts(): Record<string, number> {
    return Object.fromEntries([...this.agents.values()].map((a) => [a.node.name, a.restarts]));
  }

  adopt(pod: Json): void {
    const meta = pod.metadata as { uid: string };
    const nodeName = String((pod.spec as Json).nodeName);
    const node = this.config.nodes.find((n) => n.name === nodeName);
    if (!node || this.agents.has(meta.uid)) return;
    const a: Supervised = {
      pod,
      node,
      startedAt: 0,
      startedIso: iso(),
      restarts: 0,
      backoffMs: INITIAL_BACKOFF_MS,
      ready: false,
      stopped: false,
    };
    this.agents.set(meta.uid, a);
    if (this.released) this.start(a);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const a of this.agents.values()) if (!a.child && !a.stopped) this.start(a);
  }

  async stop(uid: string): Promise<void> {
    const a = this.agents.get(uid);
    if (!a) return;
    a.stopped = true;
    clearTimeout(a.timer);
    clearInterval(a.poll);
    const child = a.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      this.signal(child, 'SIGTERM');
      const timer = setTimeout(() => this.signal(child, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    this.agents.delete(uid);
  }

  private signal(child: ChildProcess, sig: NodeJS.Signals): void {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      child.kill(sig);
    }
  }

  private start(a: Supervised): void {
    if (!this.config.agents) return;
    const agents = this.config.agents;
    const argv = inNetns(
      a.node.ns,
      fillTemplate(agents.argv, { node: a.node.name, debugSocket: agents.debugSockets[a.node.name] }),
    );
    const log = openSync(agents.logFiles[a.node.name], 'a');
    let child: ChildProcess;
    try {
      child = spawn(argv[0], argv.slice(1), {
        detached: true,
        stdio: ['ignore', log, log],
        env: agentEnv(a.node.name, agents),
      });
    } finally {
      closeSync(log);
    }
    a.child = child;
    a.startedAt = Date.now();
    a.startedIso = iso(a.startedAt);
    a.waiting = undefined;
    a.ready = false;
    this.log(`agent ${a.node.name}: started (pid ${child.pid ?? '?'}, restart ${a.restarts})`);
    void this.writeStatus(a);
    clearInterval(a.poll);
    a.poll = setInterval(() => void this.probe(a), READY_POLL_MS);
    child.on('error', (e) => this.log(`agent ${a.node.name}: ${e.message}`));
    child.on('exit', (code, signal) => this.exited(a, child, code, signal));
  }

  private exited(
    a: Supervised,
    child: ChildProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (a.child !== child) return;
    a.child = undefined;
    clearInterval(a.poll);
    if (a.stopped) return;
    const ranMs = Date.now() - a.startedAt;
    if (ranMs > STABLE_AFTER_MS) a.backoffMs = INITIAL_BACKOFF_MS;
    a.restarts++;
    a.ready = false;
    a.lastTerminated = {
      exitCode: code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 0),
      reason: signal ? `Signal ${signal}` : code === 0 ? 'Completed' : 'Error',
      finishedAt: iso(),
    };
    const wait = a.backoffMs;
    a.backoffMs = Math.min(a.backoffMs * 2, MAX_BACKOFF_MS);
    a.waiting = {
      reason: 'CrashLoopBackOff',
      message: `back-off ${wait}ms restarting failed container=agent pod=${String((a.pod.metadata as Json).name)}`,
    };
    this.log(`agent ${a.node.name}: exited (${code ?? signal}); restart ${a.restarts} in ${wait} ms`);
    void this.writeStatus(a);
    a.timer = setTimeout(() => {
      if (!a.stopped) this.start(a);
    }, wait);
  }

  private async probe(a: Supervised): Promise<void> {
    if (!this.config.agents || !a.child) return;
    let ready = false;
    try {
      const r = await this.nodeEndpoints
        .get(a.node.name)!
        .request(
          { op: 'http-get', url: `http://${this.config.agents.metricsAddress}/readyz`, timeoutMs: 500 },
          2000,
        );
      ready = r.status === 200;
    } catch {
      ready = false;
    }
    if (ready !== a.ready && a.child) {
      a.ready = ready;
      await this.writeStatus(a);
    }
  }

  private async writeStatus(a: Supervised): Promise<void> {
    const ips = [a.node.ipv4, a.node.ipv6].filter((ip): ip is string => ip !== undefined);
    const run: ContainerRun = {
      ready: a.ready,
      restartCount: a.restarts,
      startedAt: a.startedIso,
      ...(a.waiting ? { waiting: a.waiting } : {}),
      ...(a.lastTerminated ? { lastTerminated: a.lastTerminated } : {}),
    };
    const m = a.pod.metadata as { name: string; namespace: string };
    try {
      await this.api.mergePatch(`/api/v1/namespaces/${m.namespace}/pods/${m.name}/status`, {
        status: runningStatus(a.pod, {
          podIPs: ips,
          hostIPs: ips,
          startTime: a.startedIso,
          now: iso(),
          run: () => run,
        }),
      });
    } catch (e) {
      if (!(e instanceof KubeApiError && e.status === 404))
        this.log(`agent ${a.node.name}: status: ${(e as Error).message}`);
    }
  }
}
