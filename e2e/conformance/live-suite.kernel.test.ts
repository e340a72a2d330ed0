/**
 * The sandbox as an outside e2e suite sees it: a kept sandbox (`palisade sandbox --keep`, a
 * separate process) and from then on only its kubeconfig, through client-node and the real
 * kubectl, as upstream's netpol e2e or network-policy-api's conformance would use a cluster:
 *
 *   create namespaces (client-node) ── kubectl apply Deployments ── kubectl wait Ready
 *   probe every pair with `kubectl exec SRC -- palisade probe DST-IP 80/TCP`
 *   default deny ── probe ── allow from ops ── probe ── kubectl scale ── probe ── kubectl delete pod ── probe
 *
 * Every probed matrix must equal `palisade analyze` of the objects read back from the API
 * (`kubectl get -o json`), with the addresses the sandbox gave the pods. After each policy
 * change the agents are given time through their debug sockets (as any suite would retry or
 * wait), never by sleeping blindly. Both topologies.
 *
 *   npm run build && NODE_OPTIONS=--experimental-vm-modules npx jest e2e/conformance/live-suite.kernel
 */
import type { CoreV1Api } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentDebugSocket, StateStore, type K8sObject, type Topology } from '../sandbox';
import { compareMatrices, type ReachabilityMatrix } from '../sandbox/matrix';
import { describeKernel, leftovers } from '../sandbox/testutil/kernel';
import { waitForEnforcement } from './agent-sync';
import { ApiWriter } from './api-writer';
import { analyzeObjects } from './state-analysis';
import { REPO, requireDist } from './testutil/dist';

jest.setTimeout(240_000);

type ClientNode = typeof import('@kubernetes/client-node', { with: { 'resolution-mode': 'import' } });

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const CLI = join(REPO, 'dist', 'agent', 'cli', 'main.js');
const PROBE = { port: 80, protocol: 'TCP' as const };

const SEED = `apiVersion: v1
kind: Pod
metadata: {name: anchor, namespace: default}
spec:
  containers: [{name: main, image: x, ports: [{containerPort: 80}]}]
`;

const deployment = (ns: string, name: string, app: string, replicas: number): string => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${ns}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${app}}}
  template:
    metadata: {labels: {app: ${app}}}
    spec:
      containers: [{name: main, image: nginx, ports: [{containerPort: 80, name: http}]}]
`;

const DENY = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
`;

const ALLOW_OPS = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-ops, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: ops}}}]
    ports: [{port: http}]
`;

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Processes running `sleep SECONDS` (a value a test picked to be unique). */
function sleepPids(seconds: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8') === `sleep\0${seconds}\0`) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

function runProcess(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

/** Runs `work` over `items`, at most `limit` at once. */
async function limited<T, R>(items: readonly T[], limit: number, work: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await work(items[i]);
      }
    }),
  );
  return out;
}

type Json = Record<string, unknown>;

describeKernel('a kept sandbox as an outside e2e suite sees it (kubeconfig only)', () => {
  let k8s: ClientNode;
  beforeAll(async () => {
    requireDist();
    const version = spawnSync(KUBECTL, ['version', '--client'], { encoding: 'utf8' });
    if (version.error || version.status !== 0)
      throw new Error(`kubectl is required: ${version.error?.message ?? version.stderr}`);
    k8s = await import('@kubernetes/client-node');
  });

  describe.each(['routed', 'bridge'] as Topology[])('%s topology', (topology) => {
    let dir: string;
    let stateDir: string;
    let env: NodeJS.ProcessEnv;
    let kubeEnv: NodeJS.ProcessEnv;
    let id: string | undefined;
    let core: CoreV1Api;

    const palisade = (...args: string[]): Promise<Ran> => runProcess([process.execPath, CLI, ...args], env);
    const kubectl = async (...args: string[]): Promise<string> => {
      const r = await runProcess([KUBECTL, '--cache-dir', join(dir, 'kube-cache'), ...args], kubeEnv);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return r.stdout;
    };
    const apply = async (yaml: string): Promise<void> => {
      const file = join(dir, `apply-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(file, yaml);
      await kubectl('apply', '-f', file);
    };

    /** What the API holds for the test's namespaces, as a scenario (kubectl get -o json). */
    const readBack = async (): Promise<K8sObject[]> => {
      const list = JSON.parse(
        await kubectl('get', 'namespaces,pods,networkpolicies', '-A', '-o', 'json'),
      ) as { items: Json[] };
      const ours = (o: Json): boolean => {
        const m = o.metadata as { name: string; namespace?: string };
        return ['shop', 'ops'].includes(o.kind === 'Namespace' ? m.name : (m.namespace ?? ''));
      };
      return list.items.filter(ours).flatMap((o): K8sObject[] => {
        const m = o.metadata as {
          name: string;
          namespace?: string;
          labels?: Record<string, string>;
          deletionTimestamp?: string;
        };
        const meta = {
          name: m.name,
          ...(m.namespace ? { namespace: m.namespace } : {}),
          labels: m.labels ?? {},
        };
        if (o.kind === 'Namespace') return [{ apiVersion: 'v1', kind: 'Namespace', metadata: meta }];
        if (o.kind === 'NetworkPolicy')
          return [
            {
              apiVersion: 'networking.k8s.io/v1',
              kind: 'NetworkPolicy',
              metadata: meta,
              spec: o.spec as Json,
            },
          ];
        const status = o.status as { phase?: string; podIPs?: { ip: string }[] };
        if (m.deletionTimestamp || status.phase !== 'Running') return [];
        const spec = o.spec as { nodeName: string; containers: Json[] };
        return [
          {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: meta,
            spec: {
              nodeName: spec.nodeName,
              containers: spec.containers.map((c) => ({ name: c.name, image: c.image, ports: c.ports })),
            },
            status: { phase: 'Running', podIPs: status.podIPs },
          },
        ];
      });
    };

    /** Every ordered pair of the read-back pods, probed with kubectl exec … palisade probe. */
    const probeMatrix = async (objects: readonly K8sObject[]): Promise<ReachabilityMatrix> => {
      const pods = objects
        .filter((o) => o.kind === 'Pod')
        .map((o) => ({
          key: `${String(o.metadata.namespace)}/${String(o.metadata.name)}`,
          ns: String(o.metadata.namespace),
          name: String(o.metadata.name),
          ip: ((o.status as { podIPs: { ip: string }[] }).podIPs[0] ?? { ip: '' }).ip,
        }))
        .sort((a, b) => (a.key < b.key ? -1 : 1));
      // One exec per source: `palisade probe` tries every destination at once.
      const rows = await limited(pods, 3, async (src) => {
        const dsts = pods.filter((d) => d !== src);
        const r = await runProcess(
          [
            KUBECTL,
            '--cache-dir',
            join(dir, 'kube-cache'),
            'exec',
            '-n',
            src.ns,
            src.name,
            '--',
            'palisade',
            'probe',
            '80/TCP',
            ...dsts.map((d) => d.ip),
          ],
          kubeEnv,
        );
        if (r.code !== 0 && r.code !== 1)
          throw new Error(`kubectl exec ${src.key} -- palisade probe: exit ${r.code}: ${r.stderr}`);
        const verdicts = new Map(
          r.stdout
            .trim()
            .split('\n')
            .map((l) => [l.split(' ')[0], l.split(' ')[1] === 'allowed'] as const),
        );
        return dsts.map((dst) => {
          const v = verdicts.get(dst.ip);
          if (v === undefined)
            throw new Error(`palisade probe in ${src.key} said nothing of ${dst.ip}: ${r.stdout}`);
          return { src: src.key, dst: dst.key, allowed: v };
        });
      });
      const results = rows.flat();
      const allowed: Record<string, Record<string, boolean>> = {};
      for (const p of pods) allowed[p.key] = {};
      for (const r of results) allowed[r.src][r.dst] = r.allowed;
      return { pods: pods.map((p) => p.key), probes: [{ ...PROBE, allowed }] };
    };

    /** Until the agents have applied everything the API server holds now. */
    const agentsCaughtUp = async (): Promise<void> => {
      const store = StateStore.open(id!, stateDir);
      const api = ApiWriter.fromKubeconfig(store.state.kubeconfig!);
      try {
        const targets = {
          pods: await api.revision('Pod'),
          networkpolicies: await api.revision('NetworkPolicy'),
          namespaces: await api.revision('Namespace'),
        };
        const agents = store.state.plan.nodes.map((n, i) => ({
          node: n.name,
          socket: agentDebugSocket(store, i),
        }));
        await waitForEnforcement(agents, targets, undefined, { timeoutMs: 30_000 });
      } finally {
        await api.close();
      }
    };

    /** Probes with kubectl exec and compares with analyze of what the API holds. */
    const checkMatrix = async (what: string, expectPods: number): Promise<ReachabilityMatrix> => {
      await agentsCaughtUp();
      const objects = await readBack();
      expect(objects.filter((o) => o.kind === 'Pod')).toHaveLength(expectPods);
      const probed = await probeMatrix(objects);
      const analyzed = analyzeObjects(objects, [PROBE], [], `${what}.yaml`);
      expect({ what, differences: compareMatrices(probed, analyzed) }).toEqual({ what, differences: [] });
      return probed;
    };

    const waitReady = async (ns: string, selector: string, count: number): Promise<void> => {
      await kubectl('rollout', 'status', `deployment/${selector.split('=')[1]}`, '-n', ns, '--timeout=60s');
      const deadline = Date.now() + 60_000;
      for (;;) {
        const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items.filter(
          (p) => !p.metadata?.deletionTimestamp,
        );
        if (pods.length === count) {
          await kubectl('wait', '--for=condition=Ready', 'pod', '-n', ns, '-l', selector, '--timeout=60s');
          return;
        }
        if (Date.now() > deadline)
          throw new Error(`${ns} ${selector}: ${pods.length} pods, ${count} expected`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'palisade-live-suite-'));
      stateDir = join(dir, 'state');
      env = { ...process.env, PALISADE_SANDBOX_STATE_DIR: stateDir };
      writeFileSync(join(dir, 'seed.yaml'), SEED);
      const r = await palisade(
        'sandbox',
        join(dir, 'seed.yaml'),
        '--keep',
        '--topology',
        topology,
        '-o',
        'json',
      );
      id = /sandbox (\w{4}) kept/.exec(r.stderr)?.[1];
      if (r.code !== 0 || id === undefined)
        throw new Error(`palisade sandbox --keep failed (${r.code}): ${r.stderr}`);
      const kubeconfig = join(stateDir, id, 'kubeconfig');
      kubeEnv = { ...process.env, KUBECONFIG: kubeconfig, HOME: dir, PALISADE_SANDBOX_STATE_DIR: stateDir };
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(kubeconfig);
      core = kc.makeApiClient(k8s.CoreV1Api);
    });

    afterAll(async () => {
      if (id !== undefined && StateStore.exists(id, stateDir)) {
        const r = await palisade('sandbox', 'down', '--id', id);
        expect(r.code).toBe(0);
        expect(await leftovers(id)).toEqual({ namespaces: [], links: [], processes: [] });
      }
      rmSync(dir, { recursive: true, force: true });
    });

    test('namespaces (client-node) and Deployments (kubectl apply) become Ready; everything is reachable', async () => {
      await core.createNamespace({ body: { metadata: { name: 'shop', labels: { team: 'shop' } } } });
      await core.createNamespace({ body: { metadata: { name: 'ops', labels: { team: 'ops' } } } });
      await apply(
        deployment('shop', 'web', 'web', 2) +
          '---\n' +
          deployment('shop', 'db', 'db', 1) +
          '---\n' +
          deployment('ops', 'client', 'client', 1),
      );
      await waitReady('shop', 'app=web', 2);
      await waitReady('shop', 'app=db', 1);
      await waitReady('ops', 'app=client', 1);
      const out = await kubectl('get', 'pods', '-n', 'shop', '-o', 'wide');
      expect(out.split('\n').filter((l) => /\s1\/1\s+Running\s/.test(l))).toHaveLength(3);
      const m = await checkMatrix('no-policy', 4);
      expect(Object.values(m.probes[0].allowed).every((row) => Object.values(row).every((v) => v))).toBe(
        true,
      );
    });

    test('a default deny in shop: nothing reaches shop', async () => {
      await apply(DENY);
      const m = await checkMatrix('default-deny', 4);
      for (const [src, row] of Object.entries(m.probes[0].allowed))
        for (const [dst, v] of Object.entries(row))
          expect([src, dst, v]).toEqual([src, dst, !dst.startsWith('shop/')]);
    });

    test('an allow from ops to web on the named port: ops reaches web, nothing else reaches shop', async () => {
      await apply(ALLOW_OPS);
      const m = await checkMatrix('allow-ops', 4);
      const client = m.pods.find((p) => p.startsWith('ops/'))!;
      for (const dst of m.pods.filter((p) => p.startsWith('shop/web-')))
        expect(m.probes[0].allowed[client][dst]).toBe(true);
      for (const dst of m.pods.filter((p) => p.startsWith('shop/db-')))
        expect(m.probes[0].allowed[client][dst]).toBe(false);
    });

    test('kubectl scale: the new web pod is covered at once', async () => {
      await kubectl('scale', 'deployment', 'web', '-n', 'shop', '--replicas=3');
      await waitReady('shop', 'app=web', 3);
      await checkMatrix('scaled', 5);
    });

    test('kubectl delete pod: the Deployment replaces it, and the replacement is enforced', async () => {
      const web = (await core.listNamespacedPod({ namespace: 'shop', labelSelector: 'app=web' })).items.map(
        (p) => p.metadata!.name!,
      );
      // A command exec'd into the pod is stopped with it (the kubelet's grace period).
      const marker = `${900 + Math.floor(Math.random() * 99)}.25`;
      const execd = runProcess(
        [
          KUBECTL,
          '--cache-dir',
          join(dir, 'kube-cache'),
          'exec',
          '-n',
          'shop',
          web[0],
          '--',
          'sleep',
          marker,
        ],
        kubeEnv,
      );
      const sleeping = (): boolean => sleepPids(marker).length > 0;
      for (let i = 0; i < 200 && !sleeping(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(sleeping()).toBe(true);
      await kubectl('delete', 'pod', '-n', 'shop', web[0], web[1]);
      expect(sleepPids(marker)).toEqual([]);
      expect((await execd).code).not.toBe(0);
      const remaining = (
        await core.listNamespacedPod({ namespace: 'shop', labelSelector: 'app=web' })
      ).items.map((p) => p.metadata!.name!);
      expect(remaining).not.toContain(web[0]);
      await waitReady('shop', 'app=web', 3);
      await checkMatrix('replaced', 5);
    });
  });
});
