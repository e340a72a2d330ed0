/**
 * Starts the image's entrypoint the way a node would, and checks that it goes ready.
 *
 * Nothing here is written by hand: the argv is the DaemonSet's command (which must equal the
 * Dockerfile's ENTRYPOINT) plus its args, expanded with the DaemonSet's environment (NODE_NAME
 * from the downward API) and the image's ENV; the readiness and liveness paths and the port are
 * the DaemonSet's probes. What differs from a real node, and why:
 *   - the process runs in a fresh network namespace (hostNetwork: the namespace is its "host");
 *   - the init wrapper (tini) is left out and `node` is this test's Node 24 (process.execPath);
 *   - image paths map to this repository (WORKDIR -> repo root, so dist/ must be built), and
 *     hostPath directories to a temporary directory; the xtables lock is the machine's, as on a node;
 *   - the API server is the test server (e2e/apiserver), reached through a kubeconfig in place of
 *     the in-cluster service account, over a relay, since its loopback is not the namespace's.
 *
 * Needs root (network namespaces, iptables); skips with a message otherwise, unless
 * PALISADE_REQUIRE_KERNEL_TESTS=1, when it fails.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { V1Container, V1DaemonSet, V1PodSpec } from '@kubernetes/client-node' with {
  'resolution-mode': 'import',
};
import { startApiServer, type TestApiServer } from '../e2e/apiserver';
import { containerArgv, hostArgv, resolveEnv, rewritePaths } from './testutil/container';
import { readDockerfile } from './testutil/dockerfile';
import { findObject, kustomize, REPO_ROOT } from './testutil/render';

const isRoot = process.getuid?.() === 0;
const required = process.env.PALISADE_REQUIRE_KERNEL_TESTS === '1';
if (!isRoot && !required) {
  console.warn('manifests/entrypoint.kernel.test.ts skipped: needs root (network namespaces, iptables)');
}
const describeKernel = isRoot || required ? describe : describe.skip;

const NODE_NAME = `pl-node-${randomBytes(3).toString('hex')}`;
const NETNS = `pl${randomBytes(4).toString('hex')}`;
const POD_IP = '10.244.7.5';

/** A small cluster: one pod on this node, selected by one policy, so a first sync has work to do. */
const CLUSTER = [
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
    spec: { nodeName: NODE_NAME, containers: [{ name: 'web', image: 'web' }] },
    status: { phase: 'Running', podIP: POD_IP, podIPs: [{ ip: POD_IP }] },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'web-from-client', namespace: 'default' },
    spec: {
      podSelector: { matchLabels: { app: 'web' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ podSelector: { matchLabels: { app: 'client' } } }],
          ports: [{ protocol: 'TCP', port: 80 }],
        },
      ],
    },
  },
];

function sh(argv: string[]): { code: number | null; out: string } {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Both backends' rulesets inside the namespace. */
function rulesInNetns(): string {
  return ['iptables-nft-save', 'iptables-legacy-save']
    .map((save) => sh(['ip', 'netns', 'exec', NETNS, save]).out)
    .join('\n');
}

/**
 * GET over the relay's unix socket into the namespace, one connection per request as the
 * kubelet's prober does; status and body, or undefined if refused.
 */
function get(socketPath: string, urlPath: string): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const options = {
      socketPath,
      path: urlPath,
      timeout: 2000,
      agent: false,
      headers: { connection: 'close' },
    };
    const req = http.get(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `promise`'s value, or 'timeout' after `ms`; the timer never outlives the race. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describeKernel('the image entrypoint, started as the DaemonSet starts it', () => {
  let tmp = '';
  let api: TestApiServer | undefined;
  let hostRelay: net.Server | undefined;
  let relay: ChildProcess | undefined;
  let agentProcess: ChildProcess | undefined;
  let agentExit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  let agentLog = '';
  let metricsSocket = '';
  let debugSocket = '';
  let agent: V1Container;
  let podSpec: V1PodSpec;
  let rulesBefore = '';

  const logTail = (): string => agentLog.split('\n').slice(-40).join('\n');

  beforeAll(async () => {
    if (!isRoot) throw new Error('needs root (PALISADE_REQUIRE_KERNEL_TESTS=1 is set)');
    const cli = path.join(REPO_ROOT, 'dist/agent/cli/main.js');
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);

    // What the node would run.
    const dockerfile = readDockerfile(path.join(REPO_ROOT, 'manifests/Dockerfile'));
    const ds = findObject(kustomize('manifests'), 'DaemonSet', 'palisade') as unknown as V1DaemonSet;
    podSpec = ds.spec?.template.spec as V1PodSpec;
    agent = podSpec.containers.find((c) => c.name === 'agent') as V1Container;
    const entrypoint = dockerfile.execEntrypoint ?? [];
    expect(agent.command).toEqual(entrypoint);
    const workdir =
      dockerfile.final.instructions.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args[0] ?? '/';

    // Short paths: unix socket paths are limited to 107 bytes.
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pl-'));
    const paths = new Map<string, string>([[workdir, REPO_ROOT]]);
    for (const volume of podSpec.volumes ?? []) {
      const type = volume.hostPath?.type ?? '';
      if (!volume.hostPath || !['Directory', 'DirectoryOrCreate'].includes(type)) continue;
      const mount = agent.volumeMounts?.find((m) => m.name === volume.name);
      if (!mount) continue;
      const dir = path.join(tmp, volume.name);
      fs.mkdirSync(dir);
      paths.set(mount.mountPath, dir);
    }

    expect(sh(['ip', 'netns', 'add', NETNS]).code).toBe(0);
    expect(sh(['ip', '-n', NETNS, 'link', 'set', 'lo', 'up']).code).toBe(0);
    rulesBefore = rulesInNetns();

    api = await startApiServer({ objects: CLUSTER });
    const apiPort = api.port;
    const kubeconfig = path.join(tmp, 'kubeconfig');
    api.writeKubeconfig(kubeconfig);

    // namespace 127.0.0.1:apiPort -> unix api.sock -> host 127.0.0.1:apiPort (the test server)
    // host unix metrics.sock -> namespace 127.0.0.1:<metrics port> (the agent)
    const apiSocket = path.join(tmp, 'api.sock');
    metricsSocket = path.join(tmp, 'metrics.sock');
    hostRelay = net.createServer((client) => {
      const upstream = net.connect({ host: '127.0.0.1', port: apiPort });
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => hostRelay?.listen(apiSocket, resolve));
    const metricsPort = agent.ports?.find(
      (p) => p.name === agent.readinessProbe?.httpGet?.port,
    )?.containerPort;
    expect(metricsPort).toBeDefined();
    relay = spawn(
      'ip',
      [
        'netns',
        'exec',
        NETNS,
        process.execPath,
        path.join(__dirname, 'testutil/netns-relay.js'),
        `tcp:127.0.0.1:${apiPort}=unix:${apiSocket}`,
        `unix:${metricsSocket}=tcp:127.0.0.1:${metricsPort}`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      relay?.stdout?.once('data', () => resolve());
      relay?.once('exit', (code) => reject(new Error(`relay exited ${code}`)));
    });

    // The container's environment: the image's ENV, then the DaemonSet's env.
    const imageEnv = Object.fromEntries(
      dockerfile.final.instructions
        .filter((i) => i.keyword === 'ENV')
        .flatMap((i) => i.args.map((a) => a.split('=', 2) as [string, string])),
    );
    const dsEnv = resolveEnv(agent, { 'spec.nodeName': NODE_NAME });
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: '/root', ...imageEnv };
    for (const [k, v] of dsEnv) env[k] = rewritePaths(v, paths);

    const initPrefix = entrypoint.slice(0, entrypoint.indexOf('node'));
    const argv = [
      ...hostArgv(containerArgv(agent, dsEnv), { initPrefix, nodeBinary: process.execPath, paths }),
      `--kubeconfig=${kubeconfig}`, // in place of the in-cluster service account
    ];
    const socketArg = argv.find((a) => a.startsWith('--debug-socket='));
    debugSocket = socketArg?.slice('--debug-socket='.length) ?? '';

    agentProcess = spawn('ip', ['netns', 'exec', NETNS, ...argv], {
      cwd: paths.get(workdir),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agentProcess.stdout?.on('data', (c: Buffer) => (agentLog += c.toString()));
    agentProcess.stderr?.on('data', (c: Buffer) => (agentLog += c.toString()));
    const started = agentProcess;
    agentExit = new Promise((resolve) => started.once('exit', (code, signal) => resolve({ code, signal })));
  }, 60_000);

  afterAll(async () => {
    if (agentProcess && agentProcess.exitCode === null && agentProcess.signalCode === null) {
      agentProcess.kill('SIGKILL');
      await agentExit;
    }
    relay?.stdin?.end();
    relay?.kill('SIGTERM');
    await new Promise<void>((resolve) => (hostRelay ? hostRelay.close(() => resolve()) : resolve()));
    await api?.stop();
    sh(['ip', 'netns', 'del', NETNS]);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('goes ready: /readyz answers 200 on the probed port', async () => {
    const probe = agent.readinessProbe?.httpGet?.path ?? '';
    expect(probe).toBe('/readyz');
    // Bounded wait (60 s) for the first sync; not an assertion on time.
    let last: { status: number; body: string } | undefined;
    for (let i = 0; i < 240; i++) {
      if (agentProcess?.exitCode !== null || agentProcess?.signalCode !== null) break;
      last = await get(metricsSocket, probe);
      if (last?.status === 200) break;
      await sleep(250);
    }
    if (last?.status !== 200) {
      throw new Error(`not ready (last answer: ${JSON.stringify(last)}); agent output:\n${logTail()}`);
    }
  }, 90_000);

  test('is live (/healthz 200) and serves Prometheus metrics', async () => {
    expect((await get(metricsSocket, agent.livenessProbe?.httpGet?.path ?? ''))?.status).toBe(200);
    const metrics = await get(metricsSocket, '/metrics');
    expect(metrics?.status).toBe(200);
    expect(metrics?.body).toMatch(/^# TYPE \S+ (counter|gauge|histogram|summary)$/m);
  });

  test('programmed its rules into the namespace and opened the debug socket where the DaemonSet says', () => {
    const after = rulesInNetns();
    expect(after).not.toBe(rulesBefore);
    expect(after).toMatch(/PALISADE/);
    expect(fs.statSync(debugSocket).isSocket()).toBe(true);
  });

  test('stops cleanly on SIGTERM within the grace period, leaving its rules in place', async () => {
    agentProcess?.kill('SIGTERM');
    const grace = (podSpec.terminationGracePeriodSeconds ?? 30) * 1000;
    const result = await within(agentExit as NonNullable<typeof agentExit>, grace);
    if (result === 'timeout')
      throw new Error(`still running ${grace} ms after SIGTERM; output:\n${logTail()}`);
    expect(result).toEqual({ code: 0, signal: null });
    expect(rulesInNetns()).toMatch(/PALISADE/);
  }, 60_000);
});
