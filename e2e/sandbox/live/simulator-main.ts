/**
 * The cluster simulator of a sandbox, one process beside the API server: the scheduler, the
 * Deployment and StatefulSet controllers, and per node the kubelet (node-registration.ts: the
 * node's Node object; kubelet.ts: wiring pods, their endpoints, their status) and the agent
 * supervisor. It runs in the host's network and
 * mount namespaces (namespaces it creates with `ip netns add` must be visible to everyone) and
 * reaches the API server through the fabric relay's Unix socket.
 *
 *   simulator-main.js --config <state>/live-cluster.json
 *
 * Prints "simulator ready" once the pods that existed at its start are wired (and then starts
 * the agents, whose first apply thereby covers them).
 */
import { readFileSync } from 'node:fs';
import { ControlClient } from '../control-client';
import { AddressPool } from './address-pool';
import { AgentSupervisor } from './agent-supervisor';
import { AGENT_LABEL, AGENT_NAMESPACE, agentPodName, readLiveConfig, type LiveClusterConfig } from './config';
import { WorkloadControllers } from './controllers';
import { Informer, keyOf } from './informer';
import { Kubelet } from './kubelet';
import { KubeApiError, KubeRest, type Json } from './kube-rest';
import { registerNode } from './node-registration';
import { RoundRobinScheduler } from './scheduler';

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

function parseArgs(argv: readonly string[]): { config: string } {
  const i = argv.indexOf('--config');
  if (i < 0 || !argv[i + 1]) throw new Error('--config is required');
  return { config: argv[i + 1] };
}

function agentPod(node: string): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: agentPodName(node),
      namespace: AGENT_NAMESPACE,
      labels: { 'app.kubernetes.io/name': 'palisade-agent', [AGENT_LABEL]: 'true' },
    },
    spec: {
      nodeName: node,
      hostNetwork: true,
      containers: [{ name: 'agent', image: 'palisade-agent' }],
    },
  };
}

async function connectAll(
  config: LiveClusterConfig,
): Promise<{ endpoints: Map<string, ControlClient>; podHosts: Map<string, ControlClient> }> {
  const endpoints = new Map<string, ControlClient>();
  const podHosts = new Map<string, ControlClient>();
  await Promise.all(
    config.nodes.map(async (n) => {
      endpoints.set(n.name, await ControlClient.connect(n.endpointSocket, `node ${n.name}`, 20_000));
      podHosts.set(
        n.name,
        await ControlClient.connect(n.podEndpointsSocket, `pod endpoints of ${n.name}`, 20_000),
      );
    }),
  );
  return { endpoints, podHosts };
}

async function main(): Promise<void> {
  const { config: file } = parseArgs(process.argv.slice(2));
  const config = readLiveConfig(file);
  const api = new KubeRest({
    server: 'https://localhost',
    socketPath: config.apiSocket,
    token: readFileSync(config.tokenFile, 'utf8').trim(),
    ca: readFileSync(config.caFile, 'utf8'),
  });
  const { endpoints, podHosts } = await connectAll(config);
  const reserved = new Map(config.reserved.flatMap((r) => r.ips.map((ip) => [ip, r.key] as const)));
  const supervisor = config.agents ? new AgentSupervisor(config, api, endpoints, log) : undefined;
  const kubelets = new Map(
    config.nodes.map((n) => [
      n.name,
      new Kubelet(
        n,
        config,
        api,
        podHosts.get(n.name)!,
        endpoints.get(n.name)!,
        new AddressPool(n.podCIDRs, reserved),
        supervisor,
        log,
      ),
    ]),
  );
  // Each kubelet registers its node first, as kubelets do: the scheduler and agents read them.
  await Promise.all(config.nodes.map((n) => registerNode(api, n)));
  const nodeObjects = await api.list('/api/v1/nodes');
  const scheduler = new RoundRobinScheduler(
    nodeObjects.items.map((o) => ({
      name: String((o.metadata as Json).name),
      labels: ((o.metadata as Json).labels ?? {}) as Record<string, string>,
      unschedulable: (o.spec as Json | undefined)?.unschedulable === true,
    })),
  );

  const pods = new Informer(
    api,
    '/api/v1/pods',
    (type, pod) => {
      controllers.onPod(pod);
      const spec = (pod.spec ?? {}) as Json;
      const meta = (pod.metadata ?? {}) as Json;
      const nodeName = String(spec.nodeName ?? '');
      if (nodeName === '') {
        if (type !== 'DELETED' && !meta.deletionTimestamp) void schedule(pod);
        return;
      }
      const kubelet = kubelets.get(nodeName);
      if (!kubelet) return;
      if (type === 'DELETED') kubelet.forget(pod);
      else kubelet.observe(pod);
    },
    log,
  );
  const controllers = new WorkloadControllers(api, pods.cache, log);

  // One binding in flight per pod; a failed one is retried with backoff (never a storm).
  const scheduling = new Set<string>();
  const attempts = new Map<string, number>();
  async function schedule(pod: Json): Promise<void> {
    const key = keyOf(pod);
    if (scheduling.has(key)) return;
    scheduling.add(key);
    const meta = pod.metadata as { name: string; namespace: string };
    const choice = scheduler.choose(pod);
    try {
      if ('node' in choice) {
        await api.create(`/api/v1/namespaces/${meta.namespace}/pods/${meta.name}/binding`, {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: meta.name, namespace: meta.namespace },
          target: { apiVersion: 'v1', kind: 'Node', name: choice.node },
        });
      } else {
        await api.mergePatch(`/api/v1/namespaces/${meta.namespace}/pods/${meta.name}/status`, {
          status: {
            phase: 'Pending',
            conditions: [
              {
                type: 'PodScheduled',
                status: 'False',
                reason: 'Unschedulable',
                message: choice.unschedulable,
              },
            ],
          },
        });
      }
      attempts.delete(key);
    } catch (e) {
      if (e instanceof KubeApiError && (e.status === 404 || e.status === 409)) return;
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      log(`scheduling ${key}: ${(e as Error).message}; retry ${n}`);
      setTimeout(
        () => {
          const current = pods.cache.get(key);
          if (
            current &&
            !(current.spec as Json | undefined)?.nodeName &&
            !(current.metadata as Json).deletionTimestamp
          )
            void schedule(current);
        },
        Math.min(250 * 2 ** n, 10_000),
      );
    } finally {
      scheduling.delete(key);
    }
  }

  const deployments = new Informer(
    api,
    '/apis/apps/v1/deployments',
    (type, o) => controllers.onWorkload('Deployment', type, o),
    log,
  );
  const statefulSets = new Informer(
    api,
    '/apis/apps/v1/statefulsets',
    (type, o) => controllers.onWorkload('StatefulSet', type, o),
    log,
  );

  if (config.agents) {
    for (const n of config.nodes) {
      try {
        await api.create(`/api/v1/namespaces/${AGENT_NAMESPACE}/pods`, agentPod(n.name));
      } catch (e) {
        if (!(e instanceof KubeApiError && e.status === 409)) throw e;
      }
    }
  }
  pods.start();
  await pods.synced();
  await Promise.all([...kubelets.values()].map((k) => k.idle()));
  log('simulator ready: the pods present at start are wired');
  supervisor?.release();
  deployments.start();
  statefulSets.start();

  const stop = (): void => {
    pods.stop();
    deployments.stop();
    statefulSets.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: Error) => {
  process.stderr.write(`simulator failed: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
