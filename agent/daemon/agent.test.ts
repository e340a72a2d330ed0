/**
 * The agent wired end to end in-process, without root: the real test API server, the real
 * client-node, the real compiler and dataplane, over the dataplane's FakeKernel (which
 * interprets restore text into an in-memory kernel). Kernel truth is in agent.kernel.test.ts.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Verdict } from '../../compiler';
import { FakeKernel } from '../../dataplane/api';
import { startApiServer, type TestApiServer } from '../../e2e/apiserver';
import { eventually } from '../kube/testutil/eventually';
import { namespace, pod, policy } from '../kube/testutil/objects';
import { Agent } from './agent';
import { parseConfig, type Config, type SyncMode } from './config';
import { createLogger, silentLogger } from './logger';
import { get } from './testutil/http-client';

let dir: string;
let server: TestApiServer;
let agent: Agent | undefined;
let kernel: FakeKernel;

const DENY_INGRESS = { podSelector: {}, policyTypes: ['Ingress'] };
const ALLOW_WEB_FROM_TEAM_Y = {
  podSelector: { matchLabels: { app: 'web' } },
  ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'y' } } }], ports: [{ port: 80 }] }],
};

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-agent-'));
  server = await startApiServer({
    objects: [
      namespace('x', { team: 'x' }),
      namespace('y', { team: 'y' }),
      pod('x/a', { labels: { app: 'web' }, ip: '10.244.1.2', node: 'node-a' }),
      pod('x/b', { labels: { app: 'db' }, ip: '10.244.1.3', node: 'node-a' }),
      pod('y/c', { labels: { app: 'client' }, ip: '10.244.2.2', node: 'node-b' }),
    ],
  });
  server.writeKubeconfig(join(dir, 'kubeconfig'));
  kernel = new FakeKernel();
});

afterEach(async () => {
  await agent?.stop('test over');
  agent = undefined;
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function config(syncMode: SyncMode = 'incremental'): Config {
  const { config, problems } = parseConfig({
    nodeName: 'node-a',
    kubeconfig: join(dir, 'kubeconfig'),
    metricsAddress: '127.0.0.1:0',
    debugSocket: join(dir, 'palisade.sock'),
    resyncInterval: '1m',
    syncMode,
  });
  expect(problems).toEqual([]);
  return config;
}

async function startAgent(syncMode: SyncMode = 'incremental'): Promise<Agent> {
  agent = new Agent(config(syncMode), {
    kernel,
    log: process.env.PALISADE_TEST_LOG ? createLogger('debug') : silentLogger(),
    reflectorBackoff: { initialMs: 20, maxMs: 200 },
    retryBackoff: { initialMs: 20, maxMs: 200 },
  });
  await agent.start();
  return agent;
}

const debug = (path: string) => get({ socketPath: join(dir, 'palisade.sock') }, path);
const health = (path: string) => get({ port: agent!.metricsPort! }, path);

async function allowed(from: string, to: string, port = 80): Promise<boolean> {
  const r = await debug(`/v1/verdict?from=${from}&to=${to}&port=${port}&protocol=TCP`);
  expect(r.status).toBe(200);
  return r.json<{ verdict: Verdict }>().verdict.allowed;
}

/** Writes the fake kernel has taken so far (restores; not the backend probe's `--version`). */
const restores = () =>
  kernel.ops.filter(
    (o) =>
      (o.tool === 'iptables-restore' && !o.argv.includes('--version')) ||
      (o.tool === 'ipset' && o.argv[1] === 'restore'),
  ).length;

describe.each(['incremental', 'full'] as const)('Agent in-process (%s)', (mode) => {
  test('syncs, applies, follows policy and label changes, and serves its endpoints', async () => {
    const a = await startAgent(mode);
    await a.whenReady();
    expect((await health('/readyz')).status).toBe(200);
    expect((await health('/healthz')).json()).toEqual({ healthy: true, problems: [] });
    expect(await allowed('y/c', 'x/a')).toBe(true);

    server.create(policy('x/deny', DENY_INGRESS));
    await eventually(async () => !(await allowed('y/c', 'x/a')), 'deny to be compiled');
    server.create(policy('x/allow-web', ALLOW_WEB_FROM_TEAM_Y));
    await eventually(() => allowed('y/c', 'x/a'), 'allow-web to be compiled');
    expect(await allowed('y/c', 'x/a', 81)).toBe(false);
    expect(await allowed('y/c', 'x/b')).toBe(false);

    // The kernel (fake) holds what the agent wants, and the drift check agrees.
    await eventually(
      async () =>
        (await debug('/v1/status')).json<{ runner: { pendingEvents: number } }>().runner.pendingEvents === 0,
      'no pending events',
    );
    const desired = (await debug('/v1/dataplane/desired')).json<{ chains: { name: string }[] }>();
    const actual = (await debug('/v1/dataplane/actual')).json<{ chains: { name: string }[] }>();
    expect(desired.chains.length).toBeGreaterThan(0);
    expect(actual.chains.map((c) => c.name).sort()).toEqual(desired.chains.map((c) => c.name).sort());
    expect((await debug('/v1/drift')).json()).toEqual({ differences: [] });

    // Namespace relabel: y leaves team=y, so y/c loses access.
    server.patch({ kind: 'Namespace', name: 'y' }, 'merge', { metadata: { labels: { team: 'z' } } });
    await eventually(async () => !(await allowed('y/c', 'x/a')), 'namespace relabel');
    // Pod relabel: x/b becomes a web pod and is reachable again once y is team=y.
    server.patch({ kind: 'Namespace', name: 'y' }, 'merge', { metadata: { labels: { team: 'y' } } });
    server.patch({ kind: 'Pod', namespace: 'x', name: 'b' }, 'merge', {
      metadata: { labels: { app: 'web' } },
    });
    await eventually(() => allowed('y/c', 'x/b'), 'pod relabel');

    const model = (await debug('/v1/model?kind=pods&namespace=x')).json<{ pods: { name: string }[] }>();
    expect(model.pods.map((p) => p.name).sort()).toEqual(['a', 'b']);
    const state = (await debug('/v1/state')).json<{
      pods: Record<string, unknown>;
      policies: Record<string, unknown>;
    }>();
    expect(Object.keys(state.pods).sort()).toEqual(['x/a', 'x/b']);
    expect(Object.keys(state.policies).sort()).toEqual(['x/allow-web', 'x/deny']);

    const status = (await debug('/v1/status')).json<Record<string, unknown>>();
    expect(status).toMatchObject({
      nodeName: 'node-a',
      syncMode: mode,
      synced: true,
      ready: true,
      healthy: true,
    });
    expect((status.runner as { lastApply: { stats: unknown } }).lastApply).toBeDefined();

    const metrics = (await health('/metrics')).body;
    const count = Number(/^palisade_event_to_enforcement_seconds_count (\d+)/m.exec(metrics)?.[1]);
    expect(count).toBeGreaterThanOrEqual(9);
    expect(metrics).toMatch(/^palisade_events_received_total\{resource="pods",type="modified"\} 1$/m);
    expect(metrics).toMatch(/^palisade_rules \d+/m);
    expect(metrics).toMatch(/^process_resident_memory_bytes \d+/m);

    await a.stop();
    expect(existsSync(join(dir, 'palisade.sock'))).toBe(false);
  });
});

describe('Agent in-process', () => {
  test('programs nothing until every watch has listed once', async () => {
    const removeFault = server.injectFault({
      path: '/apis/networking.k8s.io/v1/networkpolicies',
      watch: false,
      failWith: 503,
    });
    const a = await startAgent();
    await eventually(async () => {
      const s = (await debug('/v1/status')).json<{ watches: { resource: string; synced: boolean }[] }>();
      return (
        s.watches.length === 5 &&
        s.watches
          .filter((w) => !w.synced)
          .map((w) => w.resource)
          .join() === 'networkpolicies'
      );
    }, 'every watch but networkpolicies to sync');
    // Let the policy list fail a few more times.
    await eventually(
      async () =>
        (await debug('/v1/status'))
          .json<{ watches: { restarts: number }[] }>()
          .watches.some((w) => w.restarts >= 3),
      'retries',
    );
    expect(restores()).toBe(0);
    expect((await health('/readyz')).status).toBe(503);
    removeFault();
    await a.whenReady();
    expect(restores()).toBeGreaterThan(0);
    expect((await health('/readyz')).status).toBe(200);
  });

  test('debug endpoint rejects bad queries with 400/404 and a message', async () => {
    const a = await startAgent();
    await a.whenReady();
    expect((await debug('/v1/verdict?from=y/c&to=x/a')).status).toBe(400);
    expect((await debug('/v1/verdict?from=y/nope&to=x/a&port=80')).status).toBe(404);
    expect((await debug('/v1/verdict?from=y/c&to=x/a&port=80&protocol=ICMP')).status).toBe(400);
    expect((await debug('/v1/model?kind=secrets')).status).toBe(400);
    const r = await debug('/v1/nothing');
    expect(r.status).toBe(404);
    expect(r.json<{ error: string }>().error).toContain('/v1/status');
    // An address is an endpoint too.
    const v = await debug('/v1/verdict?from=192.0.2.10&to=x/a&port=80');
    expect(v.status).toBe(200);
  });

  test('a second agent on the same socket refuses to start', async () => {
    const a = await startAgent();
    await a.whenReady();
    const second = new Agent({ ...config(), metricsAddress: '' }, { kernel, log: silentLogger() });
    await expect(second.start()).rejects.toThrow(/is an agent already running/);
    await second.stop();
  });
});
