/**
 * The shared setup of the agent's kernel tests: a node namespace with pods as namespaces
 * (node-sandbox.ts), the test API server in this process holding namespaces, pods and any other
 * objects, a kubeconfig, and the built agent started on either backend (agent-process.ts). The
 * steps every such test takes are here too: wait until the agent's model gives the expected
 * verdicts and everything is applied, probe real connections, and check that the kernel equals
 * the desired state.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Verdict } from '../../../compiler';
import { startApiServer, type KubeObject, type TestApiServer } from '../../../e2e/apiserver';
import { eventually } from '../../kube/testutil/eventually';
import { namespace, pod } from '../../kube/testutil/objects';
import { AgentProcess, type AgentProcessOptions } from './agent-process';
import { NodeSandbox } from './node-sandbox';

export type Backend = 'iptables' | 'nftables';
export const BACKENDS: readonly Backend[] = ['iptables', 'nftables'];

/** [from, to, port, allowed] */
export type Case = readonly [string, string, number, boolean];

export interface ScenarioPod {
  readonly key: string;
  readonly ip: string;
  /** Default node-a, the agent's node. */
  readonly node?: string;
  readonly labels: Record<string, string>;
}

export interface AgentScenarioOptions {
  /** Prefix of the temporary directory (socket, log, kubeconfig, stubs). */
  readonly prefix: string;
  /** Namespace name → labels. */
  readonly namespaces: Record<string, Record<string, string>>;
  readonly pods: readonly ScenarioPod[];
  /** More objects for the API server (Nodes, CRDs, policies), given the sandbox's addresses. */
  readonly objects?: (sandbox: NodeSandbox) => KubeObject[];
}

export type AgentStartOptions = Omit<AgentProcessOptions, 'sandbox' | 'kubeconfig' | 'dir'>;

export class AgentScenario {
  /** The agent started last (a restarted agent replaces it). */
  agent: AgentProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly sandbox: NodeSandbox,
    readonly server: TestApiServer,
    readonly kubeconfig: string,
  ) {}

  static async create(opts: AgentScenarioOptions): Promise<AgentScenario> {
    const dir = mkdtempSync(join(tmpdir(), opts.prefix));
    let sandbox: NodeSandbox | undefined;
    try {
      sandbox = await NodeSandbox.create();
      const objects: KubeObject[] = Object.entries(opts.namespaces).map(([name, labels]) =>
        namespace(name, labels),
      );
      objects.push(...(opts.objects?.(sandbox) ?? []));
      for (const p of opts.pods) {
        await sandbox.addPod(p.key, p.ip);
        objects.push(pod(p.key, { labels: p.labels, ip: p.ip, node: p.node ?? 'node-a' }));
      }
      const server = await startApiServer({ host: sandbox.hostIP, objects, bookmarkIntervalMs: 1000 });
      const kubeconfig = join(dir, 'kubeconfig');
      server.writeKubeconfig(kubeconfig);
      return new AgentScenario(dir, sandbox, server, kubeconfig);
    } catch (err) {
      await sandbox?.destroy();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Starts the built agent in the node namespace; it becomes `this.agent`. */
  startAgent(opts: AgentStartOptions): AgentProcess {
    this.agent = AgentProcess.start({
      sandbox: this.sandbox,
      kubeconfig: this.kubeconfig,
      dir: this.dir,
      ...opts,
    });
    return this.agent;
  }

  /** The running agent (a test that needs one before any was started is wrong). */
  get running(): AgentProcess {
    if (!this.agent) throw new Error('no agent started');
    return this.agent;
  }

  async destroy(): Promise<void> {
    if (this.agent) {
      this.agent.kill('SIGKILL');
      await this.agent.exit;
    }
    await this.server?.stop();
    await this.sandbox?.destroy();
    if (process.env.PALISADE_KEEP_TEST_DIR) console.log(`test directory kept: ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }

  async verdictOf(from: string, to: string, port: number): Promise<boolean> {
    const r = await this.running.debug<{ verdict: Verdict }>(
      `/v1/verdict?from=${from}&to=${to}&port=${port}&protocol=TCP`,
    );
    return r.verdict.allowed;
  }

  /** Waits until the agent's model gives these verdicts and everything received is applied. */
  async enforced(cases: readonly Case[]): Promise<void> {
    await eventually(
      async () => {
        for (const [from, to, port, want] of cases)
          if ((await this.verdictOf(from, to, port)) !== want) return false;
        return true;
      },
      'the agent to compile the change',
      30_000,
    );
    await this.running.waitSettled();
  }

  /** Real connections match the cases (checked whether or not an agent runs). */
  async expectConnectivity(cases: readonly Case[]): Promise<void> {
    const results = await Promise.all(
      cases.map(async ([from, to, port, want]) => {
        const r = await this.sandbox.pod(from).prober.probe(this.sandbox.pod(to).ip, port, want ? 3000 : 800);
        return { c: `${from} -> ${to}:${port}`, want, got: r === 'ok', r };
      }),
    );
    expect(results.filter((x) => x.want !== x.got)).toEqual([]);
  }

  /** Applied, the agent's verdicts and real connections right, kernel equal to the desired state. */
  async step(cases: readonly Case[]): Promise<void> {
    await this.enforced(cases);
    await this.expectConnectivity(cases);
    expect(await this.running.debug('/v1/drift')).toEqual({ differences: [] });
  }

  /** Probes `cases` in a loop until stopped; returns every probe that disagreed. */
  monitor(cases: readonly Case[]): { stop(): Promise<string[]>; rounds(): number } {
    const wrong: string[] = [];
    let running = true;
    let rounds = 0;
    const loop = (async () => {
      while (running) {
        await Promise.all(
          cases.map(async ([from, to, port, want]) => {
            const r = await this.sandbox
              .pod(from)
              .prober.probe(this.sandbox.pod(to).ip, port, want ? 3000 : 400);
            if ((r === 'ok') !== want)
              wrong.push(`${from} -> ${to}:${port} ${r} (want ${want ? 'allowed' : 'denied'})`);
          }),
        );
        rounds++;
      }
    })();
    return {
      rounds: () => rounds,
      stop: async () => {
        running = false;
        await loop;
        return wrong;
      },
    };
  }
}

/**
 * A test that prints the tail of the agent's log when it fails, so a CI failure can be read.
 * `agent` is asked when the test runs (tests are declared before the scenario exists).
 */
export function testWithAgentLog(
  name: string,
  agent: () => AgentProcess | undefined,
  fn: () => Promise<void>,
  tailLines = 80,
): void {
  test(name, async () => {
    try {
      await fn();
    } catch (err) {
      const a = agent();
      if (a) console.log(`agent log (tail):\n${a.log().split('\n').slice(-tailLines).join('\n')}`);
      throw err;
    }
  });
}
