/**
 * The setup the live-sandbox kernel tests share: a scenario's sandbox with its API server,
 * kubelets and agents, an API client, the scenario's running pods, and a TCP probe from one of
 * them; torn down however the test ends.
 */
import { loadScenario } from '../../../../compiler/scenario';
import type { ControlResults } from '../../control-protocol';
import { enforcement } from '../../enforcement';
import { clusterObjects } from '../../k8s-objects';
import { planFromScenario, type SandboxPlan, type Topology } from '../../plan';
import type { LivePod } from '../../endpoints';
import { Sandbox } from '../../sandbox';
import { endpointScript } from '../../testutil/kernel';
import { KubeRest } from '../kube-rest';

export interface LiveSandbox {
  readonly sandbox: Sandbox;
  readonly plan: SandboxPlan;
  readonly api: KubeRest;
  /** The scenario's pods, running, as the API had them once the sandbox was up. */
  readonly pods: readonly LivePod[];
  /** One of them by key ("namespace/name"). */
  pod(key: string): LivePod;
  /**
   * One TCP connection from the pod `from` (a key) to ip:port: `echoed`, `timeout`, or the
   * socket error (ECONNREFUSED: the destination's stack answered, so the SYN got in).
   */
  probe(from: string, ip: string, timeoutMs: number, port?: number): Promise<{ ok: boolean; detail: string }>;
}

/**
 * Runs `body` against a live sandbox of the scenario (probes on TCP port 80), then tears it down.
 * Returns the sandbox's id (to check what it left behind) and what `body` returned.
 */
export async function withLiveSandbox<T>(
  scenarioYaml: string,
  fileName: string,
  topology: Topology,
  body: (live: LiveSandbox) => Promise<T>,
): Promise<{ id: string; result: T }> {
  const loaded = loadScenario(scenarioYaml, fileName);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const { plan } = planFromScenario(loaded.scenario, [], [{ port: 80, protocol: 'TCP' }]);
  const sandbox = await Sandbox.create(plan, {
    topology,
    endpointScript: endpointScript(),
    enforcement: enforcement(clusterObjects(loaded.scenario)),
  });
  const api = KubeRest.fromKubeconfig(sandbox.kubeconfig!);
  try {
    const pods = await sandbox.livePods();
    // Connected now, so that a test's first probe measures the network, not the connection.
    for (const node of new Set(pods.map((p) => p.node))) await sandbox.podHost(node);
    const pod = (key: string): LivePod => {
      const p = pods.find((x) => x.key === key);
      if (!p) throw new Error(`no running pod ${key} in the scenario`);
      return p;
    };
    const probe = async (
      from: string,
      ip: string,
      timeoutMs: number,
      port = 80,
    ): Promise<{ ok: boolean; detail: string }> => {
      const src = pod(from);
      const host = await sandbox.podHost(src.node);
      const r = (await host.send({
        op: 'probe',
        pod: src.uid,
        targets: [{ id: 0, ip, port, protocol: 'TCP' }],
        settings: { tcpTimeoutMs: timeoutMs, udpTimeoutMs: timeoutMs, udpAttempts: 1, concurrency: 1 },
      })) as ControlResults['probe'];
      return { ok: r.outcomes[0].ok, detail: r.outcomes[0].detail };
    };
    const result = await body({ sandbox, plan, api, pods, pod, probe });
    return { id: sandbox.id, result };
  } finally {
    await api.close();
    await sandbox.teardown();
  }
}
