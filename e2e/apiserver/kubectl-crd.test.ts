/**
 * The ClusterNetworkPolicy CRD through the real kubectl: apply the CRD, then a ClusterNetworkPolicy
 * (`kubectl get cnp` prints TIER and PRIORITY), re-apply a change (a merge patch: custom resources
 * get no strategic merge patch), the CRD's validation and strict field validation as kubectl shows
 * them, delete. Without kubectl these tests fail, as kubectl.test.ts does.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLUSTER_NETWORK_POLICY_CRD, startApiServer, type TestApiServer } from './index';

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
  });
}

async function ok(...args: string[]): Promise<string> {
  const run = await kubectl(...args);
  if (run.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  return run.stdout;
}

beforeAll(() => {
  const probe = spawnSync(KUBECTL, ['version', '--client'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0)
    throw new Error(
      `kubectl is required for these tests and could not be run (${probe.error?.message ?? probe.stderr})`,
    );
});

beforeEach(async () => {
  server = await startApiServer();
  dir = mkdtempSync(join(tmpdir(), 'palisade-kubectl-crd-'));
  server.writeKubeconfig(join(dir, 'kubeconfig'));
});

afterEach(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const policy = (priority: number, extra = '') => `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: sensitive-guard}
spec:
  tier: Admin
  priority: ${priority}
  subject: {namespaces: {matchLabels: {team: sensitive}}}
  ingress:
  - name: deny-all
    action: Deny
    from: [{namespaces: {}}]
${extra}`;

test('kubectl: CRD, then apply, get, re-apply, delete a ClusterNetworkPolicy', async () => {
  const crd = join(dir, 'crd.yaml');
  writeFileSync(crd, stringify(CLUSTER_NETWORK_POLICY_CRD));
  const before = await kubectl('get', 'clusternetworkpolicies');
  expect(before.code).not.toBe(0);
  expect(before.stderr).toContain(`the server doesn't have a resource type "clusternetworkpolicies"`);
  expect(await ok('apply', '-f', crd)).toContain(
    'customresourcedefinition.apiextensions.k8s.io/clusternetworkpolicies.policy.networking.k8s.io created',
  );

  const file = join(dir, 'cnp.yaml');
  writeFileSync(file, policy(10));
  expect(await ok('apply', '-f', file)).toContain(
    'clusternetworkpolicy.policy.networking.k8s.io/sensitive-guard created',
  );
  const table = (await ok('get', 'cnp'))
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/));
  expect(table).toEqual([
    ['NAME', 'TIER', 'PRIORITY', 'AGE'],
    ['sensitive-guard', 'Admin', '10', expect.stringMatching(/^\d+s$/)],
  ]);

  writeFileSync(file, policy(20));
  expect(await ok('apply', '-f', file)).toContain(
    'clusternetworkpolicy.policy.networking.k8s.io/sensitive-guard configured',
  );
  expect(server.requests.filter((r) => r.method === 'PATCH').map((r) => r.contentType)).toEqual([
    'application/merge-patch+json',
  ]);
  expect(server.get({ kind: 'ClusterNetworkPolicy', name: 'sensitive-guard' })?.spec).toMatchObject({
    priority: 20,
  });

  expect(await ok('delete', 'cnp', 'sensitive-guard')).toContain(
    'clusternetworkpolicy.policy.networking.k8s.io "sensitive-guard" deleted',
  );
});

test("kubectl shows the CRD's validation and strict field validation", async () => {
  server.create(structuredClone(CLUSTER_NETWORK_POLICY_CRD));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, policy(2000));
  const invalid = await kubectl('apply', '-f', file);
  expect(invalid.code).not.toBe(0);
  expect(invalid.stderr).toContain(
    'The ClusterNetworkPolicy "sensitive-guard" is invalid: spec.priority: Invalid value: 2000: must be between 0 and 1000, inclusive',
  );
  writeFileSync(file, policy(1, '  egres: []\n'));
  const typo = await kubectl('apply', '-f', file);
  expect(typo.code).not.toBe(0);
  expect(typo.stderr).toContain('strict decoding error: unknown field "spec.egres"');
});
