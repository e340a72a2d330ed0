/**
 * The test API server driven by the real kubectl binary (spawned with argv; KUBECONFIG and a private
 * discovery cache in a temp dir): get -A, apply (create, then patch), label, get -w, delete, -o json.
 * Without kubectl these tests fail, they do not skip: the sandbox promises that a user's kubectl works.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type TestApiServer } from './index';
import { namespace, pod, policy, waitFor } from './testutil/fixtures';

jest.setTimeout(60_000);

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
let server: TestApiServer;
let dir: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kubectl(...args: string[]): Promise<Run> {
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
  });
}

async function ok(...args: string[]): Promise<string> {
  const run = await kubectl(...args);
  if (run.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  return run.stdout;
}

beforeAll(() => {
  const probe = spawnSync(KUBECTL, ['version', '--client'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `kubectl is required for these tests and could not be run (${probe.error?.message ?? probe.stderr}). ` +
        'Install it with: apt-get install -y kubernetes-client (or set KUBECTL=/path/to/kubectl).',
    );
  }
  process.stdout.write(`kubectl under test: ${probe.stdout.split('\n')[0]}\n`);
});

beforeEach(async () => {
  server = await startApiServer({
    objects: [
      namespace('prod', { team: 'a' }),
      pod('prod/web-1', { labels: { app: 'web' }, nodeName: 'node-1', podIP: '10.0.0.5' }),
      policy('prod/deny-all'),
    ],
  });
  dir = mkdtempSync(join(tmpdir(), 'palisade-kubectl-'));
  server.writeKubeconfig(join(dir, 'kubeconfig'));
});

afterEach(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const columns = (line: string) => line.trim().split(/\s+/);

test('kubectl get ns,pods,networkpolicies -A prints server-side tables', async () => {
  const out = await ok('get', 'ns,pods,networkpolicies', '-A');
  const lines = out.split('\n').filter((l) => l.trim());
  expect(lines.map(columns)).toEqual(
    expect.arrayContaining([
      ['NAME', 'STATUS', 'AGE'],
      ['namespace/prod', 'Active', expect.stringMatching(/^\d+s$/)],
      ['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'],
      ['prod', 'pod/web-1', '0/1', 'Running', '0', expect.stringMatching(/^\d+s$/)],
      ['NAMESPACE', 'NAME', 'POD-SELECTOR', 'AGE'],
      ['prod', 'networkpolicy.networking.k8s.io/deny-all', '<none>', expect.stringMatching(/^\d+s$/)],
    ]),
  );
  const wide = await ok('get', 'pods', '-n', 'prod', '-o', 'wide');
  expect(columns(wide.split('\n')[1]).slice(5, 7)).toEqual(['10.0.0.5', 'node-1']);
  expect(
    server.requests.some((r) => r.accept?.startsWith('application/json;as=Table') && r.status === 200),
  ).toBe(true);
});

test('kubectl apply -f creates, then patches with a strategic merge patch (removing fields dropped from the file)', async () => {
  const file = join(dir, 'np.yaml');
  const manifest = (egress: boolean) =>
    [
      'apiVersion: networking.k8s.io/v1',
      'kind: NetworkPolicy',
      'metadata: {name: allow-web, namespace: prod, labels: {v: "1"}}',
      'spec:',
      '  podSelector: {matchLabels: {app: web}}',
      '  policyTypes: [Ingress' + (egress ? ', Egress]' : ']'),
      '  ingress: [{from: [{podSelector: {matchLabels: {role: fe}}}], ports: [{port: 80, protocol: TCP}]}]',
      ...(egress ? ['  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]'] : []),
    ].join('\n');
  writeFileSync(file, manifest(true));
  expect(await ok('apply', '-f', file)).toContain('networkpolicy.networking.k8s.io/allow-web created');
  const created = server.get({ kind: 'NetworkPolicy', namespace: 'prod', name: 'allow-web' });
  expect(created?.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toContain(
    '"egress"',
  );

  writeFileSync(file, manifest(false));
  expect(await ok('apply', '-f', file)).toContain('networkpolicy.networking.k8s.io/allow-web configured');
  const patch = server.requests.filter((r) => r.method === 'PATCH');
  expect(patch.map((r) => r.contentType)).toEqual(['application/strategic-merge-patch+json']);
  const updated = server.get({ kind: 'NetworkPolicy', namespace: 'prod', name: 'allow-web' });
  expect(updated?.spec).toEqual({
    podSelector: { matchLabels: { app: 'web' } },
    policyTypes: ['Ingress'],
    ingress: [
      { from: [{ podSelector: { matchLabels: { role: 'fe' } } }], ports: [{ port: 80, protocol: 'TCP' }] },
    ],
  });
  expect(updated?.metadata.generation).toBe(2);

  expect(await ok('apply', '-f', file)).toContain('networkpolicy.networking.k8s.io/allow-web unchanged');
  expect(
    server.get({ kind: 'NetworkPolicy', namespace: 'prod', name: 'allow-web' })?.metadata.resourceVersion,
  ).toBe(updated?.metadata.resourceVersion);
});

test('kubectl apply --server-side creates and updates', async () => {
  const file = join(dir, 'ns.yaml');
  writeFileSync(file, 'apiVersion: v1\nkind: Namespace\nmetadata: {name: ssa, labels: {a: "1", b: "2"}}\n');
  expect(await ok('apply', '--server-side', '-f', file)).toContain('namespace/ssa serverside-applied');
  writeFileSync(file, 'apiVersion: v1\nkind: Namespace\nmetadata: {name: ssa, labels: {a: "3"}}\n');
  await ok('apply', '--server-side', '-f', file);
  expect(server.get({ kind: 'Namespace', name: 'ssa' })?.metadata.labels).toEqual({
    a: '3',
    'kubernetes.io/metadata.name': 'ssa',
  });
});

test('kubectl label pod ... --overwrite', async () => {
  expect(await ok('label', 'pod', 'web-1', '-n', 'prod', 'x=y')).toContain('pod/web-1 labeled');
  expect(await ok('label', 'pod', 'web-1', '-n', 'prod', 'x=z', '--overwrite')).toContain(
    'pod/web-1 labeled',
  );
  expect(server.get({ kind: 'Pod', namespace: 'prod', name: 'web-1' })?.metadata.labels).toEqual({
    app: 'web',
    x: 'z',
  });
  const refused = await kubectl('label', 'pod', 'web-1', '-n', 'prod', 'x=w');
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain("'x' already has a value (z)");
});

test('kubectl get pods -w prints the change when a pod is modified and when one is added', async () => {
  const child = spawn(KUBECTL, ['--cache-dir', join(dir, 'cache'), 'get', 'pods', '-n', 'prod', '-w'], {
    env: { ...process.env, KUBECONFIG: join(dir, 'kubeconfig'), HOME: dir },
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise((resolve) => child.on('close', resolve));
  try {
    await waitFor('initial listing', () => /web-1\s+0\/1\s+Running/.test(stdout));
    await waitFor('kubectl watching', () => server.activeWatches === 1);
    server.updateStatus({ ...pod('prod/web-1'), status: { phase: 'Failed', podIP: '10.0.0.5' } });
    server.create(pod('prod/web-2'));
    await waitFor(
      'watch output',
      () => /web-1\s+0\/1\s+Failed/.test(stdout) && /web-2\s+0\/1\s+Pending/.test(stdout),
    );
    expect(stdout.split('\n').filter((l) => l.startsWith('NAME')).length).toBe(1);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
});

test('kubectl delete networkpolicy', async () => {
  expect(await ok('delete', 'networkpolicy', 'deny-all', '-n', 'prod')).toContain(
    'networkpolicy.networking.k8s.io "deny-all" deleted',
  );
  expect(server.get({ kind: 'NetworkPolicy', namespace: 'prod', name: 'deny-all' })).toBeUndefined();
  const missing = await kubectl('delete', 'networkpolicy', 'deny-all', '-n', 'prod');
  expect(missing.code).not.toBe(0);
  expect(missing.stderr).toContain('NotFound');
});

test('kubectl get -o json parses', async () => {
  const list = JSON.parse(await ok('get', 'pods,networkpolicies', '-A', '-o', 'json')) as {
    kind: string;
    items: { kind: string; metadata: { name: string; resourceVersion: string } }[];
  };
  expect(list.kind).toBe('List');
  expect(list.items.map((i) => `${i.kind}/${i.metadata.name}`)).toEqual([
    'Pod/web-1',
    'NetworkPolicy/deny-all',
  ]);
  const single = JSON.parse(await ok('get', 'namespace', 'prod', '-o', 'json')) as {
    metadata: { labels: Record<string, string> };
  };
  expect(single.metadata.labels).toEqual({ team: 'a', 'kubernetes.io/metadata.name': 'prod' });
});
