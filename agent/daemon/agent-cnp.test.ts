/**
 * The agent and ClusterNetworkPolicy, in-process over the dataplane's FakeKernel and the real
 * test API server (started without the CRD, as many clusters are):
 *   - without the CRD it starts, programs NetworkPolicy, and says so in status and its log;
 *   - the CRD installed later: ClusterNetworkPolicies are enforced without a restart;
 *   - `nodes` peers follow the Node objects; domainNames peers get a log line and a status entry;
 *   - the CRD deleted: its policies stop applying, and status says the CRD is absent again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Verdict } from '../../compiler';
import { FakeKernel } from '../../dataplane/api';
import {
  CLUSTER_NETWORK_POLICY_CRD,
  startApiServer,
  type KubeObject,
  type TestApiServer,
} from '../../e2e/apiserver';
import { eventually } from '../kube/testutil/eventually';
import { namespace, pod, policy } from '../kube/testutil/objects';
import { Agent } from './agent';
import { parseConfig } from './config';
import { createLogger } from './logger';
import { get } from './testutil/http-client';

let dir: string;
let server: TestApiServer;
let agent: Agent | undefined;
let logLines: Record<string, unknown>[];

const CRD_NAME = 'clusternetworkpolicies.policy.networking.k8s.io';

function node(name: string, address: string, labels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels },
    status: { addresses: [{ type: 'InternalIP', address }] },
  };
}

function cnp(name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'policy.networking.k8s.io/v1alpha2',
    kind: 'ClusterNetworkPolicy',
    metadata: { name },
    spec,
  };
}

const ADMIN_DENY_FROM_Y = cnp('deny-y', {
  tier: 'Admin',
  priority: 10,
  subject: { namespaces: { matchLabels: { team: 'x' } } },
  ingress: [{ name: 'no-y', action: 'Deny', from: [{ namespaces: { matchLabels: { team: 'y' } } }] }],
});

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-agent-cnp-'));
  server = await startApiServer({
    objects: [
      namespace('x', { team: 'x' }),
      namespace('y', { team: 'y' }),
      pod('x/a', { labels: { app: 'web' }, ip: '10.244.1.2', node: 'node-a' }),
      pod('y/c', { labels: { app: 'client' }, ip: '10.244.2.2', node: 'node-b' }),
      node('node-a', '172.18.0.2', { role: 'control' }),
      node('node-b', '172.18.0.3', { role: 'worker' }),
    ],
  });
  server.writeKubeconfig(join(dir, 'kubeconfig'));
  logLines = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
  });
  const { config, problems } = parseConfig({
    nodeName: 'node-a',
    kubeconfig: join(dir, 'kubeconfig'),
    metricsAddress: '',
    debugSocket: join(dir, 'palisade.sock'),
    resyncInterval: '1m',
  });
  expect(problems).toEqual([]);
  agent = new Agent(config, {
    kernel: new FakeKernel(),
    log: createLogger('info', stream),
    reflectorBackoff: { initialMs: 20, maxMs: 200 },
    retryBackoff: { initialMs: 20, maxMs: 200 },
    absentPoll: { initialMs: 20, maxMs: 100 },
  });
  await agent.start();
});

afterEach(async () => {
  await agent?.stop('test over');
  agent = undefined;
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const debug = (path: string) => get({ socketPath: join(dir, 'palisade.sock') }, path);

async function allowed(from: string, to: string, port = 80): Promise<boolean> {
  const r = await debug(`/v1/verdict?from=${from}&to=${to}&port=${port}&protocol=TCP`);
  expect(r.status).toBe(200);
  return r.json<{ verdict: Verdict }>().verdict.allowed;
}

interface CnpStatus {
  crd: string;
  note: string;
  policies: number;
  unsupported: string[];
}
const cnpStatus = async () =>
  (await debug('/v1/status')).json<{ clusterNetworkPolicies: CnpStatus }>().clusterNetworkPolicies;

const logged = (re: RegExp) => logLines.some((l) => typeof l.msg === 'string' && re.test(l.msg));

test('no CRD: ready with NetworkPolicy only; the CRD installed later is enforced without a restart', async () => {
  await agent!.whenReady();
  expect(await cnpStatus()).toMatchObject({ crd: 'absent', policies: 0, unsupported: [] });
  expect((await cnpStatus()).note).toContain('not installed');
  expect(logged(/ClusterNetworkPolicy CRD not installed .*enforcing NetworkPolicy only/)).toBe(true);
  // While the CRD is absent the reflector looks for it again now and then (state 'listing' for
  // the moment of each look): between looks it reports 'absent', and synced throughout.
  const cnpWatch = async () =>
    (await debug('/v1/status'))
      .json<{ watches: { resource: string; state: string; synced: boolean }[] }>()
      .watches.find((w) => w.resource === 'clusternetworkpolicies');
  expect((await cnpWatch())?.synced).toBe(true);
  await eventually(async () => (await cnpWatch())?.state === 'absent', "the watch's state to say absent");
  // NetworkPolicy is enforced meanwhile.
  server.create(policy('x/deny', { podSelector: {}, policyTypes: ['Ingress'] }));
  await eventually(async () => !(await allowed('y/c', 'x/a')), 'the NetworkPolicy to apply');
  server.delete({ kind: 'NetworkPolicy', namespace: 'x', name: 'deny' });
  await eventually(() => allowed('y/c', 'x/a'), 'the NetworkPolicy to go');

  server.create(structuredClone(CLUSTER_NETWORK_POLICY_CRD));
  server.create(ADMIN_DENY_FROM_Y);
  await eventually(async () => !(await allowed('y/c', 'x/a')), 'the Admin deny to apply');
  expect(await cnpStatus()).toMatchObject({ crd: 'installed', policies: 1 });
  expect(logged(/ClusterNetworkPolicy CRD installed/)).toBe(true);
  const v = (await debug('/v1/verdict?from=y/c&to=x/a&port=80')).json<{ verdict: Verdict }>().verdict;
  expect(v.ingress.clusterRule).toMatchObject({
    policy: 'deny-y',
    ruleName: 'no-y',
    action: 'Deny',
    tier: 'admin',
  });
  // A NetworkPolicy allowing everything cannot override the Admin tier.
  server.create(policy('x/allow-all', { podSelector: {}, ingress: [{}] }));
  await eventually(
    async () =>
      (await debug('/v1/state')).json<{ policies: Record<string, unknown> }>().policies['x/allow-all'] !==
      undefined,
    'the NetworkPolicy compiled',
  );
  expect(await allowed('y/c', 'x/a')).toBe(false);
});

test('nodes peers follow the Node objects; domainNames peers are logged and reported', async () => {
  server.create(structuredClone(CLUSTER_NETWORK_POLICY_CRD));
  server.create(
    cnp('no-workers', {
      tier: 'Admin',
      priority: 1,
      subject: { namespaces: {} },
      egress: [
        { name: 'dns', action: 'Accept', to: [{ domainNames: ['example.com'] }] },
        { name: 'workers', action: 'Deny', to: [{ nodes: { matchLabels: { role: 'worker' } } }] },
      ],
    }),
  );
  await agent!.whenReady();
  await eventually(async () => !(await allowed('x/a', '172.18.0.3')), 'the nodes peer to apply');
  expect(await allowed('x/a', '172.18.0.2')).toBe(true);
  server.patch({ kind: 'Node', name: 'node-a' }, 'merge', { metadata: { labels: { role: 'worker' } } });
  await eventually(async () => !(await allowed('x/a', '172.18.0.2')), 'the relabelled node to join');

  const warning =
    'ClusterNetworkPolicy no-workers: egress rule 0 "dns" (Accept) has domainNames peers, which Palisade does not enforce; Palisade treats the rule as matching no traffic (the API\'s fail-closed rule for Accept)';
  expect((await cnpStatus()).unsupported).toEqual([warning]);
  expect(logLines.filter((l) => l.msg === warning)).toHaveLength(1);
  expect(logLines.find((l) => l.msg === warning)).toMatchObject({ level: 'warn', policy: 'no-workers' });
  // The model carries the nodes and cluster policies.
  const model = (await debug('/v1/model?kind=nodes')).json<{ nodes: { name: string }[] }>();
  expect(model.nodes.map((n) => n.name).sort()).toEqual(['node-a', 'node-b']);
});

test('the CRD deleted: its policies stop applying, status says absent; no restart either way', async () => {
  server.create(structuredClone(CLUSTER_NETWORK_POLICY_CRD));
  server.create(ADMIN_DENY_FROM_Y);
  await agent!.whenReady();
  await eventually(async () => !(await allowed('y/c', 'x/a')), 'the Admin deny to apply');
  server.delete({ kind: 'CustomResourceDefinition', name: CRD_NAME });
  await eventually(() => allowed('y/c', 'x/a'), 'the deny to go with the CRD');
  expect(await cnpStatus()).toMatchObject({ crd: 'absent', policies: 0 });
  server.create(structuredClone(CLUSTER_NETWORK_POLICY_CRD));
  server.create(ADMIN_DENY_FROM_Y);
  await eventually(async () => !(await allowed('y/c', 'x/a')), 'the deny to come back');
});
