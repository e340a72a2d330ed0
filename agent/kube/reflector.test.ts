/**
 * The reflector against the real test API server through the real @kubernetes/client-node
 * (typed list calls and Watch): nothing of the client is mocked.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PodInfo, PolicyInfo } from '../../compiler';
import { startApiServer, type TestApiServer } from '../../e2e/apiserver';
import { systemClock, type Clock } from '../daemon/clock';
import { createLogger, silentLogger } from '../daemon/logger';
import { createResourceClients, loadKubeConfig, type ResourceClient } from './client';
import { Reflector, type EventType, type RestartReason } from './reflector';
import { NETWORK_POLICIES, PODS } from './resources';
import { eventually } from './testutil/eventually';
import { namespace, pod, policy } from './testutil/objects';

/** The system clock, recording every delay the reflector asks for (its backoff). */
class RecordingClock implements Clock {
  readonly delays: number[] = [];
  now(): number {
    return systemClock.now();
  }
  setTimer(ms: number, fn: () => void) {
    this.delays.push(ms);
    return systemClock.setTimer(ms, fn);
  }
}

interface Harness {
  server: TestApiServer;
  client: ResourceClient;
  reflector: Reflector<PodInfo>;
  clock: RecordingClock;
  /** Handler calls in order: "upsert ns/name labels-json" / "delete ns/name". */
  calls: string[];
  events: Map<EventType, number>;
  restarts: Map<RestartReason, number>;
  synced: number;
}

let dir: string;
const harnesses: Harness[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-reflector-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    await h.reflector.stop();
    await h.server.stop();
  }
});

async function setup(
  opts: { pageSize?: number; bookmarkIntervalMs?: number; objects?: ReturnType<typeof pod>[] } = {},
) {
  const server = await startApiServer({
    bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000,
    seedNamespaces: ['default', 'x'],
    objects: opts.objects ?? [],
  });
  const kubeconfig = join(dir, `kubeconfig-${server.port}`);
  server.writeKubeconfig(kubeconfig);
  const clients = await createResourceClients(await loadKubeConfig(kubeconfig));
  const clock = new RecordingClock();
  const h: Harness = {
    server,
    client: clients.pods,
    clock,
    calls: [],
    events: new Map(),
    restarts: new Map(),
    synced: 0,
    reflector: undefined as unknown as Reflector<PodInfo>,
  };
  h.reflector = new Reflector<PodInfo>({
    client: clients.pods,
    project: PODS.project,
    keyOf: PODS.keyOf,
    clock,
    log: process.env.PALISADE_TEST_LOG ? createLogger('debug') : silentLogger(),
    backoff: { initialMs: 50, maxMs: 400, jitter: 0.2 },
    pageSize: opts.pageSize,
    handler: {
      upsert: (p) => h.calls.push(`upsert ${p.namespace}/${p.name} ${JSON.stringify(p.labels)}`),
      delete: (key) => h.calls.push(`delete ${key}`),
      synced: () => h.synced++,
    },
    observer: {
      event: (_r, type) => h.events.set(type, (h.events.get(type) ?? 0) + 1),
      restart: (_r, reason) => h.restarts.set(reason, (h.restarts.get(reason) ?? 0) + 1),
      size: () => undefined,
    },
  });
  harnesses.push(h);
  return h;
}

const watching = (h: Harness) =>
  eventually(() => h.reflector.state() === 'watching' && h.server.activeWatches > 0, 'a watch');

describe('Reflector (real API server, real client-node)', () => {
  test('lists, then follows adds, updates and deletes; reports synced once', async () => {
    const h = await setup({
      objects: [pod('x/a', { labels: { app: 'web' }, ip: '10.0.0.1' }), pod('x/b', { ip: '10.0.0.2' })],
    });
    h.reflector.start();
    await eventually(() => h.reflector.hasSynced(), 'synced');
    expect(h.synced).toBe(1);
    expect(h.calls.sort()).toEqual(['upsert x/a {"app":"web"}', 'upsert x/b {}']);
    await watching(h);

    h.calls.length = 0;
    h.server.create(pod('x/c', { ip: '10.0.0.3' }));
    h.server.patch({ kind: 'Pod', namespace: 'x', name: 'a' }, 'merge', {
      metadata: { labels: { app: 'api' } },
    });
    h.server.delete({ kind: 'Pod', namespace: 'x', name: 'b' });
    await eventually(() => h.calls.length >= 3, 'three changes');
    expect(h.calls).toEqual(['upsert x/c {}', 'upsert x/a {"app":"api"}', 'delete x/b']);
    expect(h.reflector.get('x/a')?.labels).toEqual({ app: 'api' });
    expect(h.reflector.get('x/b')).toBeUndefined();
    expect(h.reflector.lastResourceVersion()).toBe(h.server.resourceVersion);
    expect(h.synced).toBe(1);
  });

  test('absorbs updates that change nothing the model keeps (status churn)', async () => {
    const h = await setup({ objects: [pod('x/a', { ip: '10.0.0.1' })] });
    h.reflector.start();
    await watching(h);
    h.calls.length = 0;
    h.server.patch(
      { kind: 'Pod', namespace: 'x', name: 'a' },
      'merge',
      { status: { conditions: [{ type: 'Ready', status: 'True' }] } },
      'status',
    );
    h.server.patch({ kind: 'Pod', namespace: 'x', name: 'a' }, 'merge', {
      metadata: { annotations: { a: 'b' } },
    });
    const rv = h.server.resourceVersion;
    await eventually(() => h.reflector.lastResourceVersion() === rv, 'the resourceVersion to move');
    expect(h.events.get('modified')).toBe(2);
    expect(h.calls).toEqual([]);
  });

  test('lists in pages', async () => {
    const h = await setup({
      pageSize: 2,
      objects: ['a', 'b', 'c', 'd', 'e'].map((n, i) => pod(`x/${n}`, { ip: `10.0.0.${i + 1}` })),
    });
    h.reflector.start();
    await eventually(() => h.reflector.hasSynced(), 'synced');
    expect(h.reflector.size).toBe(5);
    const lists = h.server.requests.filter(
      (r) => r.url.startsWith('/api/v1/pods?') && !r.url.includes('watch=true'),
    );
    expect(lists).toHaveLength(3);
    expect(lists.every((r) => r.url.includes('limit=2'))).toBe(true);
    expect(lists.filter((r) => r.url.includes('continue=')).length).toBe(2);
  });

  test('watch expired (410): relists without dropping anything, and reports deletions made during the gap', async () => {
    const h = await setup({
      objects: [
        pod('x/a', { ip: '10.0.0.1' }),
        pod('x/b', { ip: '10.0.0.2' }),
        pod('x/c', { ip: '10.0.0.3' }),
      ],
    });
    h.reflector.start();
    await watching(h);
    h.calls.length = 0;
    const listedBefore = h.events.get('listed') ?? 0;

    // Expire every watch and change things before the reflector can resume: it must relist.
    h.server.expireWatches();
    h.server.delete({ kind: 'Pod', namespace: 'x', name: 'b' });
    h.server.create(pod('x/d', { ip: '10.0.0.4' }));
    h.server.patch({ kind: 'Pod', namespace: 'x', name: 'c' }, 'merge', { metadata: { labels: { v: '2' } } });

    await eventually(() => h.calls.length >= 3, 'the relist to report three changes');
    expect(h.restarts.get('expired')).toBeGreaterThanOrEqual(1);
    expect(h.events.get('relist_deleted')).toBe(1);
    expect(h.events.get('deleted') ?? 0).toBe(0);
    expect((h.events.get('listed') ?? 0) - listedBefore).toBe(3);
    // x/a was relisted unchanged: no call for it. Deletes come after the whole list.
    expect(h.calls).toEqual(['upsert x/c {"v":"2"}', 'upsert x/d {}', 'delete x/b']);
    expect([...h.reflector.keys()].sort()).toEqual(['x/a', 'x/c', 'x/d']);
    expect(h.synced).toBe(1);
    await watching(h);
    h.server.create(pod('x/e', { ip: '10.0.0.5' }));
    await eventually(() => h.reflector.get('x/e'), 'the watch to resume after the relist');
  });

  test('API server down: reconnects with exponential backoff and resumes from the last resourceVersion', async () => {
    const h = await setup({ objects: [pod('x/a', { ip: '10.0.0.1' })] });
    h.reflector.start();
    await watching(h);
    const listedBefore = h.events.get('listed') ?? 0;

    await h.server.stop();
    await eventually(() => (h.restarts.get('error') ?? 0) >= 5, 'five failed reconnects');
    h.server.create(pod('x/b', { ip: '10.0.0.2' }));
    h.server.delete({ kind: 'Pod', namespace: 'x', name: 'a' });
    await h.server.restart({ keepState: true });

    await eventually(() => h.reflector.get('x/b') && !h.reflector.get('x/a'), 'the changes made while down');
    // Resumed, not relisted: the changes came as watch events.
    expect(h.events.get('listed')).toBe(listedBefore);
    expect(h.events.get('added')).toBe(1);
    expect(h.events.get('deleted')).toBe(1);
    // Backoff: each delay about double the previous (±20 % jitter), capped at 400 ms.
    const d = h.clock.delays;
    expect(d.length).toBeGreaterThanOrEqual(5);
    expect(d[0]).toBeGreaterThanOrEqual(40);
    expect(d[0]).toBeLessThanOrEqual(60);
    expect(d[1]).toBeGreaterThanOrEqual(80);
    expect(d[1]).toBeLessThanOrEqual(120);
    expect(d[2]).toBeGreaterThanOrEqual(160);
    expect(d[2]).toBeLessThanOrEqual(240);
    expect(Math.max(...d)).toBeLessThanOrEqual(400);
  });

  test('API server restarted with its state lost: relists and deletes everything that vanished', async () => {
    const h = await setup({ objects: [pod('x/a', { ip: '10.0.0.1' }), pod('x/b', { ip: '10.0.0.2' })] });
    h.reflector.start();
    await watching(h);
    h.calls.length = 0;
    await h.server.restart({ keepState: false });
    h.server.create(pod('x/c', { ip: '10.0.0.3' }));
    await eventually(
      () => h.reflector.size === 1 && h.reflector.get('x/c'),
      'the cache to match the new server',
    );
    expect(h.calls.sort()).toEqual(['delete x/a', 'delete x/b', 'upsert x/c {}']);
  });

  test('bookmarks move the resourceVersion while the resource is quiet', async () => {
    const h = await setup({ bookmarkIntervalMs: 50, objects: [pod('x/a', { ip: '10.0.0.1' })] });
    h.reflector.start();
    await watching(h);
    // Changes to other resources move the global revision; only bookmarks can tell the pod watch.
    for (let i = 0; i < 5; i++) h.server.create(namespace(`other-${i}`));
    const rv = h.server.resourceVersion;
    await eventually(() => h.reflector.lastResourceVersion() === rv, 'a bookmark carrying the new revision');
    expect(h.events.get('bookmark')).toBeGreaterThanOrEqual(1);
    expect(h.calls).toEqual(['upsert x/a {}']);
  });

  test('caches only the slim projection, whatever the pod carries', async () => {
    const huge = 'x'.repeat(1_000_000);
    const fat = pod('x/fat', {
      labels: { app: 'web' },
      ip: '10.0.0.9',
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': huge, note: huge.slice(0, 500_000) },
      ports: [{ name: 'http', containerPort: 8080 }],
    });
    (fat.spec as { containers: unknown[] }).containers.push(
      ...Array.from({ length: 20 }, (_, i) => ({
        name: `side-${i}`,
        image: 'img',
        env: [{ name: 'BIG', value: huge.slice(0, 10_000) }],
      })),
    );
    const h = await setup({ objects: [fat] });
    h.reflector.start();
    await eventually(() => h.reflector.hasSynced(), 'synced');
    const cached = h.reflector.get('x/fat');
    expect(cached).toEqual({
      namespace: 'x',
      name: 'fat',
      labels: { app: 'web' },
      nodeName: 'node-a',
      ips: ['10.0.0.9'],
      hostNetwork: false,
      phase: 'Running',
      namedPorts: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
    expect(JSON.stringify(cached).length).toBeLessThan(300);

    // The same through a watch event.
    await watching(h);
    h.server.create({ ...fat, metadata: { ...fat.metadata, name: 'fat2', resourceVersion: undefined } });
    const viaWatch = await eventually(() => h.reflector.get('x/fat2'), 'the watched pod');
    expect(Object.keys(viaWatch).sort()).toEqual([
      'hostNetwork',
      'ips',
      'labels',
      'name',
      'namedPorts',
      'namespace',
      'nodeName',
      'phase',
    ]);
    expect(JSON.stringify(viaWatch).length).toBeLessThan(300);
  });

  test('a policy listed and the same policy watched project identically (ingress.from survives the list)', async () => {
    const spec = {
      podSelector: { matchLabels: { app: 'web' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { team: 'y' } },
              podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['c'] }] },
            },
            { ipBlock: { cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] } },
          ],
          ports: [
            { protocol: 'TCP', port: 'http' },
            { port: 8000, endPort: 8080 },
          ],
        },
      ],
      egress: [{ to: [{ podSelector: {} }] }],
    };
    const server = await startApiServer({
      seedNamespaces: ['default', 'x'],
      objects: [policy('x/listed', spec)],
    });
    const kubeconfig = join(dir, `kubeconfig-${server.port}`);
    server.writeKubeconfig(kubeconfig);
    const clients = await createResourceClients(await loadKubeConfig(kubeconfig));
    const reflector = new Reflector<PolicyInfo>({
      client: clients.networkpolicies,
      project: NETWORK_POLICIES.project,
      keyOf: NETWORK_POLICIES.keyOf,
      clock: systemClock,
      log: silentLogger(),
      handler: { upsert: () => undefined, delete: () => undefined, synced: () => undefined },
    });
    try {
      reflector.start();
      await eventually(() => reflector.hasSynced(), 'synced');
      await eventually(() => reflector.state() === 'watching' && server.activeWatches > 0, 'a watch');
      server.create(policy('x/watched', spec));
      const watched = await eventually(() => reflector.get('x/watched'), 'the watched policy');
      const listed = reflector.get('x/listed')!;
      expect(listed.spec).toEqual(watched.spec);
      expect(listed.spec.ingress?.[0].from).toHaveLength(2);
      expect(listed.spec.ingress?.[0].from?.[1].ipBlock).toEqual({
        cidr: '192.0.2.0/24',
        except: ['192.0.2.128/25'],
      });
      expect(listed.spec.egress?.[0].to).toEqual([{ podSelector: {} }]);
    } finally {
      await reflector.stop();
      await server.stop();
    }
  });

  test('stop() ends the watch promptly and the cache stays readable', async () => {
    const h = await setup({ objects: [pod('x/a', { ip: '10.0.0.1' })] });
    h.reflector.start();
    await watching(h);
    await h.reflector.stop();
    expect(h.reflector.state()).toBe('stopped');
    expect(h.reflector.get('x/a')).toBeDefined();
    await eventually(() => h.server.activeWatches === 0, 'the server to see the watch closed');
  });
});
