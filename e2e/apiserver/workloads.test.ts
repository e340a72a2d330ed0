/**
 * Nodes, Deployments and StatefulSets (with /scale), pods/binding and graceful pod deletion, as
 * the real kubectl and plain HTTP see them. The controllers and the kubelet are the sandbox's
 * (e2e/sandbox); here only the API side: storage, defaulting, validation, printing, subresources.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type TestApiServer } from './index';
import { namespace, pod } from './testutil/fixtures';
import type { KubeObject } from './types';

jest.setTimeout(60_000);

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
let server: TestApiServer;
let dir: string;

function kubectl(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(KUBECTL, ['--cache-dir', join(dir, 'cache'), ...args], {
      env: { ...process.env, KUBECONFIG: join(dir, 'kubeconfig'), HOME: dir },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

async function ok(...args: string[]): Promise<string> {
  const r = await kubectl(...args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const node = (name: string, ip: string, cidr: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, labels: { 'kubernetes.io/hostname': name } },
  spec: { podCIDRs: [cidr], podCIDR: cidr },
  status: {
    addresses: [{ type: 'InternalIP', address: ip }],
    conditions: [{ type: 'Ready', status: 'True' }],
    nodeInfo: { kubeletVersion: 'v1.32.4-palisade' },
  },
});

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: x}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: main, image: nginx, ports: [{containerPort: 80}]}]
`;

beforeEach(async () => {
  server = await startApiServer({
    gracefulPodDeletion: true,
    objects: [
      namespace('x'),
      node('node-1', '172.18.0.2', '10.244.1.0/24'),
      node('node-2', '172.18.0.3', '10.244.2.0/24'),
    ],
  });
  dir = mkdtempSync(join(tmpdir(), 'palisade-workloads-'));
  server.writeKubeconfig(join(dir, 'kubeconfig'));
});

afterEach(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('kubectl get nodes: status, version, and -o wide the internal IP', async () => {
  const out = await ok('get', 'nodes', '-o', 'wide');
  expect(out).toMatch(/^node-1\s+Ready\s+<none>\s+\S+\s+v1\.32\.4-palisade\s+172\.18\.0\.2\s/m);
  expect(out).toMatch(/^node-2\s+Ready\s/m);
  expect(JSON.parse(await ok('get', 'node', 'node-2', '-o', 'json')).spec.podCIDRs).toEqual([
    '10.244.2.0/24',
  ]);
});

test('a Deployment: created with defaults, printed, scaled through /scale, validated', async () => {
  writeFileSync(join(dir, 'd.yaml'), DEPLOYMENT);
  expect(await ok('apply', '-f', join(dir, 'd.yaml'))).toContain('deployment.apps/web created');
  const stored = server.get({ kind: 'Deployment', namespace: 'x', name: 'web' })!;
  expect(stored.spec).toMatchObject({
    replicas: 2,
    strategy: { type: 'RollingUpdate' },
    template: {
      spec: { restartPolicy: 'Always', containers: [{ ports: [{ containerPort: 80, protocol: 'TCP' }] }] },
    },
  });
  expect(await ok('get', 'deploy', '-n', 'x')).toMatch(/^web\s+0\/2\s+0\s+0\s/m);
  expect(await ok('scale', 'deployment', 'web', '-n', 'x', '--replicas=5')).toContain(
    'deployment.apps/web scaled',
  );
  expect(server.get({ kind: 'Deployment', namespace: 'x', name: 'web' })!.spec).toMatchObject({
    replicas: 5,
  });
  const scale = JSON.parse(await ok('get', '--raw', '/apis/apps/v1/namespaces/x/deployments/web/scale'));
  expect(scale).toMatchObject({
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    spec: { replicas: 5 },
    status: { selector: 'app=web' },
  });
  const mismatch = DEPLOYMENT.replace('name: web,', 'name: other,').replace(
    '{labels: {app: web}}',
    '{labels: {app: db}}',
  );
  writeFileSync(join(dir, 'bad.yaml'), mismatch);
  const refused = await kubectl('apply', '-f', join(dir, 'bad.yaml'));
  expect(refused.stderr).toContain('`selector` does not match template `labels`');
});

test('a StatefulSet: printed with READY, scaled with kubectl scale', async () => {
  writeFileSync(
    join(dir, 's.yaml'),
    DEPLOYMENT.replace('kind: Deployment', 'kind: StatefulSet').replace('name: web,', 'name: db,'),
  );
  await ok('apply', '-f', join(dir, 's.yaml'));
  expect(await ok('get', 'sts', '-n', 'x', '-o', 'wide')).toMatch(/^db\s+0\/2\s+\S+\s+main\s+nginx/m);
  await ok('scale', 'statefulset', 'db', '-n', 'x', '--replicas=0');
  expect(server.get({ kind: 'StatefulSet', namespace: 'x', name: 'db' })!.spec).toMatchObject({
    replicas: 0,
    podManagementPolicy: 'OrderedReady',
  });
});

test('pods/binding assigns a node once; a second binding is a conflict', async () => {
  server.create(pod('x/a'));
  const bind = (nodeName: string) =>
    fetch(`${server.url}/api/v1/namespaces/x/pods/a/binding`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name: 'a' },
        target: { kind: 'Node', name: nodeName },
      }),
    });
  expect((await bind('node-2')).status).toBe(201);
  expect(server.get({ kind: 'Pod', namespace: 'x', name: 'a' })!.spec).toMatchObject({ nodeName: 'node-2' });
  const again = await bind('node-1');
  expect(again.status).toBe(409);
});

test('graceful deletion: a bound pod stays Terminating until deleted with grace 0; an unbound one goes at once', async () => {
  server.create(pod('x/bound', { nodeName: 'node-1', podIP: '10.244.1.10' }));
  server.create(pod('x/unbound'));
  expect(await ok('delete', 'pod', 'bound', '-n', 'x', '--wait=false')).toContain('pod "bound" deleted');
  const terminating = server.get({ kind: 'Pod', namespace: 'x', name: 'bound' })!;
  expect(terminating.metadata).toMatchObject({
    deletionGracePeriodSeconds: 30,
    deletionTimestamp: expect.any(String),
  });
  expect(await ok('get', 'pods', '-n', 'x')).toMatch(/^bound\s+\S+\s+Terminating\s/m);
  await ok('delete', 'pod', 'unbound', '-n', 'x');
  expect(server.get({ kind: 'Pod', namespace: 'x', name: 'unbound' })).toBeUndefined();
  // What the kubelet does once the pod is stopped:
  server.delete({ kind: 'Pod', namespace: 'x', name: 'bound' }, { gracePeriodSeconds: 0 });
  expect(server.get({ kind: 'Pod', namespace: 'x', name: 'bound' })).toBeUndefined();
});

test('deleting a namespace marks its bound pods Terminating; the namespace goes with the last one', async () => {
  server.create(pod('x/p', { nodeName: 'node-1', podIP: '10.244.1.11' }));
  await ok('delete', 'namespace', 'x', '--wait=false');
  expect(server.get({ kind: 'Namespace', name: 'x' })!.status).toMatchObject({ phase: 'Terminating' });
  expect(server.get({ kind: 'Pod', namespace: 'x', name: 'p' })!.metadata.deletionTimestamp).toBeDefined();
  server.delete({ kind: 'Pod', namespace: 'x', name: 'p' }, { gracePeriodSeconds: 0 });
  expect(server.get({ kind: 'Namespace', name: 'x' })).toBeUndefined();
});
