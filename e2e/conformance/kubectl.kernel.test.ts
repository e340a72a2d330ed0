/**
 * A kept sandbox driven by the real kubectl, end to end with real processes only:
 *
 *   palisade sandbox S.yaml --keep --backend B   (dist/agent/cli/main.js, a separate process;
 *                                                 once per backend)
 *   kubectl (KUBECONFIG=the file it printed) apply -f / label --overwrite / delete networkpolicy;
 *     then (iptables; see KUBECTL_BACKENDS) the ClusterNetworkPolicy CRD and two Admin policies
 *     applied, one patched ahead of the other by priority, one deleted
 *   palisade sandbox probe --id ID -o json after each change, compared with cells checked by
 *     hand and with `palisade analyze -o json` of the same state (also a real process)
 *   kubectl get -w sees the changes
 *   palisade sandbox down --id ID         and nothing is left: no ps<id> namespace, no process
 *
 * After each kubectl change the agents are polled (debug sockets) until they enforce it, and
 * the time from kubectl returning to the agents' apply ending is printed (not asserted: tests
 * never assert on wall time). The sandbox keeps its state in a private directory
 * (PALISADE_SANDBOX_STATE_DIR), so other sandboxes on the machine are never touched.
 *
 *   npm run build && NODE_OPTIONS=--experimental-vm-modules npx jest e2e/conformance/kubectl.kernel
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentDebugSocket, StateStore } from '../sandbox';
import { describeKernel, leftovers } from '../sandbox/testutil/kernel';
import { waitForEnforcement, type ExpectedModel } from './agent-sync';
import { KubeRest } from '../sandbox/live/kube-rest';
import { ApiWriter, type WatchedResource } from './api-writer';
import { REPO, requireDist } from './testutil/dist';
import { BACKENDS } from './runs';
import { CLUSTER_NETWORK_POLICY_CRD } from '../apiserver/kinds/cluster-network-policy';

jest.setTimeout(180_000);

/**
 * The whole sequence on iptables; on nftables the NetworkPolicy part (apply, relabel, delete, the
 * watches, down). The ClusterNetworkPolicy part waits for the agents to find the CRD installed
 * later (their backoff reaches several seconds by then) and is what makes this file costly; its
 * policies are backend-neutral API handling, and conformance.kernel.test.ts runs every
 * ClusterNetworkPolicy case on nftables in both topologies.
 */
const KUBECTL_BACKENDS = BACKENDS;
const WITH_CLUSTER_NETWORK_POLICY: Record<(typeof BACKENDS)[number], boolean> = {
  iptables: true,
  nftables: false,
};

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const CLI = join(REPO, 'dist', 'agent', 'cli', 'main.js');

const pod = (ns: string, name: string, app: string, node: string): string => `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, labels: {app: ${app}}}
spec:
  nodeName: ${node}
  containers: [{name: main, image: nginx, ports: [{containerPort: 80}]}]
`;

const NAMESPACES = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: ops, labels: {team: ops}}
`;

/** shop/web and shop/db on node-1, shop/api and ops/client on node-2. */
const scenario = (dbApp: string): string =>
  NAMESPACES +
  pod('shop', 'web', 'web', 'node-1') +
  pod('shop', 'api', 'api', 'node-2') +
  pod('shop', 'db', dbApp, 'node-1') +
  pod('ops', 'client', 'client', 'node-2');

const POLICY = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{port: 80, protocol: TCP}]
`;

/**
 * Two Admin tier policies in conflict over ops -> shop: the lower priority number decides, so a
 * priority patch flips which one does.
 */
const denyOps = (priority: number): string => `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: deny-ops-to-shop}
spec:
  tier: Admin
  priority: ${priority}
  subject: {namespaces: {matchLabels: {team: shop}}}
  ingress:
  - name: no-ops
    action: Deny
    from: [{namespaces: {matchLabels: {team: ops}}}]
`;
const acceptOpsToWeb = (priority: number): string => `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: ops-to-web}
spec:
  tier: Admin
  priority: ${priority}
  subject: {pods: {namespaceSelector: {matchLabels: {team: shop}}, podSelector: {matchLabels: {app: web}}}}
  ingress:
  - name: ops-may-reach-web
    action: Accept
    from: [{namespaces: {matchLabels: {team: ops}}}]
    protocols: [{tcp: {destinationPort: {number: 80}}}]
`;

const ENDPOINTS = ['ops/client', 'shop/api', 'shop/db', 'shop/web'];

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** When the process ended (epoch ms). */
  readonly endedAt: number;
}

function runProcess(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, endedAt: Date.now() }));
  });
}

/** A long-running process (kubectl get -w) whose output is collected as it comes. */
interface Watcher {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<void>;
}

function startWatcher(argv: readonly string[], env: NodeJS.ProcessEnv): Watcher {
  const child = spawn(argv[0], argv.slice(1), { env });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return { child, output: () => out, exited };
}

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Matrix = {
  pods: string[];
  probes: { port: number; protocol: string; allowed: Record<string, Record<string, boolean>> }[];
};

/** Every cell allowed except the ones listed ("FROM -> TO"). */
function allowedExcept(denied: readonly string[]): Matrix {
  const allowed: Record<string, Record<string, boolean>> = {};
  for (const from of ENDPOINTS) {
    allowed[from] = {};
    for (const to of ENDPOINTS) if (from !== to) allowed[from][to] = !denied.includes(`${from} -> ${to}`);
  }
  return { pods: ENDPOINTS, probes: [{ port: 80, protocol: 'TCP', allowed }] };
}

describeKernel('a kept sandbox driven by kubectl', () => {
  describe.each(KUBECTL_BACKENDS.map((b) => [b]))('%s backend', (backend) => {
    let dir: string;
    let env: NodeJS.ProcessEnv;
    let kubeEnv: NodeJS.ProcessEnv;
    let id: string | undefined;
    let stateDir: string;
    const watchers: Watcher[] = [];
    const timings: string[] = [];

    const palisade = (...args: string[]): Promise<Ran> => runProcess([process.execPath, CLI, ...args], env);
    const kubectl = async (...args: string[]): Promise<Ran> => {
      const r = await runProcess([KUBECTL, '--cache-dir', join(dir, 'kube-cache'), ...args], kubeEnv);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return r;
    };
    const probe = async (): Promise<Matrix> => {
      const r = await palisade('sandbox', 'probe', '--id', id!, '-o', 'json');
      if (r.code !== 0) throw new Error(`palisade sandbox probe exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as Matrix;
    };
    const analyze = async (yaml: string): Promise<Matrix> => {
      const file = join(dir, `state-${Date.now()}.yaml`);
      writeFileSync(file, yaml);
      const r = await palisade('analyze', file, '-o', 'json');
      if (r.code !== 0) throw new Error(`palisade analyze exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as Matrix;
    };

    /**
     * Waits until both agents enforce the change kubectl made at `endedAt` to `resource`, and
     * records how long after kubectl returned their applies ended.
     */
    const enforced = async (
      what: string,
      endedAt: number,
      resource: WatchedResource,
      expect: ExpectedModel,
      timeoutMs = 30_000,
    ): Promise<void> => {
      const store = StateStore.open(id!, stateDir);
      const api = ApiWriter.fromKubeconfig(store.state.kubeconfig!);
      const kind =
        resource === 'pods'
          ? 'Pod'
          : resource === 'clusternetworkpolicies'
            ? 'ClusterNetworkPolicy'
            : 'NetworkPolicy';
      const target = await api.revision(kind);
      const agents = store.state.plan.nodes.map((n, i) => ({
        node: n.name,
        socket: agentDebugSocket(store, i),
      }));
      const wait = await waitForEnforcement(agents, { [resource]: target }, expect, { timeoutMs });
      const applied = Math.max(...Object.values(wait.lastApplyAt)) - endedAt;
      const seen = Date.now() - endedAt;
      timings.push(
        `${what}: agents' applies ended ${applied} ms after kubectl returned (seen enforced after ${seen} ms)`,
      );
    };

    const cnpTest = (name: string, fn: () => Promise<void>) => {
      if (WITH_CLUSTER_NETWORK_POLICY[backend]) test(name, fn);
    };

    beforeAll(() => {
      requireDist();
      const version = spawnSync(KUBECTL, ['version', '--client'], { encoding: 'utf8' });
      if (version.error || version.status !== 0)
        throw new Error(
          `kubectl is required (apt-get install -y kubernetes-client, or set KUBECTL): ${version.error?.message ?? version.stderr}`,
        );
      dir = mkdtempSync(join(tmpdir(), `palisade-kubectl-${backend}-`));
      stateDir = join(dir, 'state');
      env = { ...process.env, PALISADE_SANDBOX_STATE_DIR: stateDir };
      writeFileSync(join(dir, 'cluster.yaml'), scenario('db'));
      writeFileSync(join(dir, 'policy.yaml'), POLICY);
      // JSON is YAML: the CRD exactly as the test API server serves it.
      writeFileSync(join(dir, 'crd.yaml'), JSON.stringify(CLUSTER_NETWORK_POLICY_CRD, null, 2));
      writeFileSync(join(dir, 'cnp.yaml'), `${denyOps(10)}---\n${acceptOpsToWeb(20)}`);
    });

    afterAll(async () => {
      for (const w of watchers) {
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
        await w.exited;
      }
      // Only if a test failed before `sandbox down`: remove this test's sandbox (by its id).
      if (id !== undefined && StateStore.exists(id, stateDir)) await palisade('sandbox', 'down', '--id', id);
      if (timings.length > 0) process.stdout.write(`kubectl to enforcement:\n  ${timings.join('\n  ')}\n`);
      rmSync(dir, { recursive: true, force: true });
    });

    test('palisade sandbox --keep builds, probes, keeps and tells how to use kubectl', async () => {
      const r = await palisade(
        'sandbox',
        join(dir, 'cluster.yaml'),
        '--keep',
        '--backend',
        backend,
        '-o',
        'json',
      );
      expect([r.code, r.stderr]).toEqual([0, expect.any(String)]);
      id = /sandbox (\w{4}) kept/.exec(r.stderr)?.[1];
      expect(id).toBeDefined();
      const kubeconfig = /kubectl --kubeconfig (\S+) get pods -A/.exec(r.stderr)?.[1];
      expect(kubeconfig).toBe(join(stateDir, id!, 'kubeconfig'));
      kubeEnv = { ...process.env, KUBECONFIG: kubeconfig, HOME: dir };
      expect(JSON.parse(r.stdout)).toEqual(allowedExcept([]));
    });

    test('kubectl sees the cluster', async () => {
      const pods = (await kubectl('get', 'pods', '-A', '-o', 'wide')).stdout;
      for (const [ns, name, node] of [
        ['shop', 'web', 'node-1'],
        ['shop', 'api', 'node-2'],
        ['ops', 'client', 'node-2'],
      ])
        expect(pods).toMatch(new RegExp(`^${ns}\\s+${name}\\s+.*Running.*\\s${node}\\s`, 'm'));
      const none = await kubectl('get', 'networkpolicies', '-A');
      expect(none.stdout + none.stderr).toContain('No resources found');
    });

    test('kubectl apply -f: only shop/api reaches shop/web', async () => {
      watchers.push(
        startWatcher(
          [
            KUBECTL,
            '--cache-dir',
            join(dir, 'kube-cache'),
            'get',
            'pods',
            '-n',
            'shop',
            '-w',
            '--output-watch-events',
          ],
          kubeEnv,
        ),
      );
      await until('the pod watch listing', () => /ADDED\s+web\s/.test(watchers[0].output()));
      const r = await kubectl('apply', '-f', join(dir, 'policy.yaml'));
      expect(r.stdout).toContain('networkpolicy.networking.k8s.io/web-from-api created');
      await enforced('kubectl apply -f (create a policy)', r.endedAt, 'networkpolicies', {
        namespaceLabels: {},
        pods: {},
        policies: ['shop/web-from-api'],
      });
      const expected = allowedExcept(['ops/client -> shop/web', 'shop/db -> shop/web']);
      expect(await probe()).toEqual(expected);
      expect(await analyze(`${scenario('db')}---\n${POLICY}`)).toEqual(expected);
    });

    test('kubectl get -w sees the policy, kubectl label pod --overwrite lets shop/db in', async () => {
      watchers.push(
        startWatcher(
          [
            KUBECTL,
            '--cache-dir',
            join(dir, 'kube-cache'),
            'get',
            'networkpolicies',
            '-n',
            'shop',
            '-w',
            '--output-watch-events',
          ],
          kubeEnv,
        ),
      );
      await until('the policy in the watch', () => /ADDED\s+web-from-api\s/.test(watchers[1].output()));
      const r = await kubectl('label', 'pod', 'db', '-n', 'shop', 'app=api', '--overwrite');
      expect(r.stdout).toContain('pod/db labeled');
      await until('the relabel in the pod watch', () => /MODIFIED\s+db\s/.test(watchers[0].output()));
      await enforced('kubectl label pod --overwrite', r.endedAt, 'pods', {
        namespaceLabels: {},
        pods: { 'shop/db': { labels: { app: 'api' }, namedPorts: '[]' } },
        policies: ['shop/web-from-api'],
      });
      const expected = allowedExcept(['ops/client -> shop/web']);
      expect(await probe()).toEqual(expected);
      expect(await analyze(`${scenario('api')}---\n${POLICY}`)).toEqual(expected);
    });

    test('kubectl delete networkpolicy opens shop/web again, and the watch sees it go', async () => {
      const r = await kubectl('delete', 'networkpolicy', 'web-from-api', '-n', 'shop');
      expect(r.stdout).toContain('"web-from-api" deleted');
      await until('the deletion in the policy watch', () =>
        /DELETED\s+web-from-api\s/.test(watchers[1].output()),
      );
      await enforced('kubectl delete networkpolicy', r.endedAt, 'networkpolicies', {
        namespaceLabels: {},
        pods: {},
        policies: [],
      });
      expect(await probe()).toEqual(allowedExcept([]));
      expect(await analyze(scenario('api'))).toEqual(allowedExcept([]));
    });

    cnpTest(
      'kubectl apply the ClusterNetworkPolicy CRD and two Admin policies: the agents pick the CRD up; the deny decides',
      async () => {
        const crd = await kubectl('apply', '-f', join(dir, 'crd.yaml'));
        expect(crd.stdout).toContain('clusternetworkpolicies.policy.networking.k8s.io created');
        const r = await kubectl('apply', '-f', join(dir, 'cnp.yaml'));
        expect(r.stdout).toContain('clusternetworkpolicy.policy.networking.k8s.io/deny-ops-to-shop created');
        expect(r.stdout).toContain('clusternetworkpolicy.policy.networking.k8s.io/ops-to-web created');
        await enforced(
          'kubectl apply -f (the CRD, then two ClusterNetworkPolicies)',
          r.endedAt,
          'clusternetworkpolicies',
          {
            namespaceLabels: {},
            pods: {},
            policies: [],
            clusterPolicies: ['deny-ops-to-shop', 'ops-to-web'],
          },
          // The agents look for a missing CRD again with a backoff of up to 30 s.
          60_000,
        );
        const expected = allowedExcept([
          'ops/client -> shop/api',
          'ops/client -> shop/db',
          'ops/client -> shop/web',
        ]);
        expect(await probe()).toEqual(expected);
        expect(await analyze(`${scenario('api')}---\n${denyOps(10)}---\n${acceptOpsToWeb(20)}`)).toEqual(
          expected,
        );
      },
    );

    cnpTest(
      'kubectl patch the Accept policy ahead of the Deny: ops/client reaches shop/web again, and only it',
      async () => {
        const r = await kubectl(
          'patch',
          'clusternetworkpolicy',
          'ops-to-web',
          '--type',
          'merge',
          '-p',
          '{"spec":{"priority":5}}',
        );
        expect(r.stdout).toContain('clusternetworkpolicy.policy.networking.k8s.io/ops-to-web patched');
        const printed = (
          await kubectl('get', 'clusternetworkpolicy', 'ops-to-web', '-o', 'jsonpath={.spec.priority}')
        ).stdout;
        expect(printed).toBe('5');
        await enforced('kubectl patch clusternetworkpolicy (priority)', r.endedAt, 'clusternetworkpolicies', {
          namespaceLabels: {},
          pods: {},
          policies: [],
          clusterPolicies: ['deny-ops-to-shop', 'ops-to-web'],
        });
        const expected = allowedExcept(['ops/client -> shop/api', 'ops/client -> shop/db']);
        expect(await probe()).toEqual(expected);
        expect(await analyze(`${scenario('api')}---\n${denyOps(10)}---\n${acceptOpsToWeb(5)}`)).toEqual(
          expected,
        );
      },
    );

    cnpTest('kubectl delete the Deny policy: everything is open again', async () => {
      const r = await kubectl('delete', 'clusternetworkpolicy', 'deny-ops-to-shop');
      expect(r.stdout).toContain('"deny-ops-to-shop" deleted');
      await enforced('kubectl delete clusternetworkpolicy', r.endedAt, 'clusternetworkpolicies', {
        namespaceLabels: {},
        pods: {},
        policies: [],
        clusterPolicies: ['ops-to-web'],
      });
      expect(await probe()).toEqual(allowedExcept([]));
      expect(await analyze(`${scenario('api')}---\n${acceptOpsToWeb(5)}`)).toEqual(allowedExcept([]));
    });

    test('palisade sandbox down --id leaves nothing behind', async () => {
      const api = KubeRest.fromKubeconfig(kubeEnv.KUBECONFIG!);
      expect(await api.get('/version')).toMatchObject({ gitVersion: expect.any(String) });
      const r = await palisade('sandbox', 'down', '--id', id!);
      expect([r.code, r.stderr]).toEqual([0, `sandbox ${id} removed\n`]);
      expect(await leftovers(id!)).toEqual({ namespaces: [], links: [], processes: [] });
      expect(existsSync(join(stateDir, id!))).toBe(false);
      // Nothing listens on the loopback port any more.
      await expect(api.get('/version')).rejects.toThrow();
      await api.close();
      // The watches lose their server with the sandbox: kubectl ends by itself.
      await until('kubectl get -w to end', () =>
        watchers.every((w) => w.child.exitCode !== null || w.child.signalCode !== null),
      );
    });
  });
});
