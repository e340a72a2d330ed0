/**
 * The test API server driven through the real @kubernetes/client-node 2.x: typed APIs, Watch and
 * informers (ListWatch), selectors, 410 Expired, bookmarks, and server restarts mid-watch.
 */
import type {
  CoreV1Api,
  KubeConfig,
  ListWatch,
  NetworkingV1Api,
  V1NetworkPolicy,
  V1ObjectMeta,
  V1Pod,
} from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type TestApiServer } from './index';
import { namespace, pod, policy, waitFor } from './testutil/fixtures';

jest.setTimeout(30_000);

// client-node 2.x is an ES module; this CommonJS test loads it with a dynamic import().
type ClientNode = typeof import('@kubernetes/client-node', { with: { 'resolution-mode': 'import' } });
let k8s: ClientNode;

let server: TestApiServer;
let kc: KubeConfig;
let core: CoreV1Api;
let net: NetworkingV1Api;
let dir: string;
const cleanups: (() => unknown)[] = [];

beforeEach(async () => {
  server = await startApiServer({ bookmarkIntervalMs: 100 });
  dir = mkdtempSync(join(tmpdir(), 'palisade-apiserver-'));
  server.writeKubeconfig(join(dir, 'kubeconfig'));
  kc = new k8s.KubeConfig();
  kc.loadFromFile(join(dir, 'kubeconfig'));
  core = kc.makeApiClient(k8s.CoreV1Api);
  net = kc.makeApiClient(k8s.NetworkingV1Api);
  server.create(namespace('x'));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function statusOf(err: unknown): { code: number; reason: string } {
  const e = err as { code: number; body: unknown };
  const body = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as {
    reason: string;
    code: number;
    kind: string;
  };
  expect(body.kind).toBe('Status');
  expect(body.code).toBe(e.code);
  return { code: e.code, reason: body.reason };
}

async function rejection(promise: Promise<unknown>): Promise<{ code: number; reason: string }> {
  try {
    await promise;
  } catch (err) {
    return statusOf(err);
  }
  throw new Error('expected the request to fail');
}

const merge = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const strategic = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);

beforeAll(async () => {
  k8s = await import('@kubernetes/client-node');
});

interface SeenEvent {
  type: string;
  name?: string;
  rv?: string;
  labels?: Record<string, string>;
  code?: number;
  reason?: string;
}

/** Starts a client-node Watch and records what its callback and done see. */
async function watch(path: string, query: Record<string, string | number | boolean | undefined>) {
  const seen: SeenEvent[] = [];
  const done: { called: boolean; err?: unknown } = { called: false };
  const controller = await new k8s.Watch(kc).watch(
    path,
    query,
    (type, obj: { metadata?: V1ObjectMeta; code?: number; reason?: string }) =>
      seen.push({
        type,
        name: obj.metadata?.name,
        rv: obj.metadata?.resourceVersion,
        labels: obj.metadata?.labels,
        code: obj.code,
        reason: obj.reason,
      }),
    (err) => {
      done.called = true;
      done.err = err;
    },
  );
  cleanups.push(() => controller.abort());
  return { seen, done };
}

describe('typed APIs', () => {
  test('pods: create, get, list, replace, patch (json, merge, strategic), status, delete', async () => {
    const created = await core.createNamespacedPod({
      namespace: 'x',
      body: pod('x/a', { labels: { app: 'a' } }) as V1Pod,
    });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.generation).toBe(1);
    expect(created.status?.phase).toBe('Pending');
    const rv1 = Number(created.metadata?.resourceVersion);

    const read = await core.readNamespacedPod({ name: 'a', namespace: 'x' });
    expect(read.metadata?.resourceVersion).toBe(String(rv1));

    const list = await core.listNamespacedPod({ namespace: 'x' });
    expect(list.items.map((p) => p.metadata?.name)).toEqual(['a']);
    expect(Number(list.metadata?.resourceVersion)).toBeGreaterThanOrEqual(rv1);

    read.metadata!.labels = { app: 'a', tier: 'web' };
    const replaced = await core.replaceNamespacedPod({ name: 'a', namespace: 'x', body: read });
    expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(rv1);
    expect(replaced.metadata?.generation).toBe(1); // labels are metadata

    // A replace with the old resourceVersion is a conflict.
    expect(await rejection(core.replaceNamespacedPod({ name: 'a', namespace: 'x', body: read }))).toEqual({
      code: 409,
      reason: 'Conflict',
    });

    const jsonPatched = await core.patchNamespacedPod({
      name: 'a',
      namespace: 'x',
      body: [{ op: 'add', path: '/metadata/labels/json', value: 'yes' }],
    });
    expect(jsonPatched.metadata?.labels).toEqual({ app: 'a', tier: 'web', json: 'yes' });

    const mergePatched = await core.patchNamespacedPod(
      { name: 'a', namespace: 'x', body: { metadata: { labels: { tier: null } } } },
      merge(),
    );
    expect(mergePatched.metadata?.labels).toEqual({ app: 'a', json: 'yes' });

    const smp = await core.patchNamespacedPod(
      { name: 'a', namespace: 'x', body: { spec: { containers: [{ name: 'sidecar', image: 'busybox' }] } } },
      strategic(),
    );
    expect(smp.spec?.containers.map((c) => c.name)).toEqual(['main', 'sidecar']); // merged by name
    expect(smp.metadata?.generation).toBe(2);

    // Status only changes through /status; the main resource ignores it.
    const withStatus = await core.replaceNamespacedPodStatus({
      name: 'a',
      namespace: 'x',
      body: { ...smp, status: { phase: 'Running', podIP: '10.1.0.5', podIPs: [{ ip: '10.1.0.5' }] } },
    });
    expect(withStatus.status?.podIP).toBe('10.1.0.5');
    const statusPatched = await core.patchNamespacedPodStatus(
      { name: 'a', namespace: 'x', body: { status: { phase: 'Succeeded' } } },
      merge(),
    );
    expect(statusPatched.status).toMatchObject({ phase: 'Succeeded', podIP: '10.1.0.5' });
    const ignored = await core.patchNamespacedPod(
      { name: 'a', namespace: 'x', body: { status: { podIP: '1.2.3.4' } } },
      merge(),
    );
    expect(ignored.status?.podIP).toBe('10.1.0.5');

    await core.deleteNamespacedPod({ name: 'a', namespace: 'x' });
    expect(await rejection(core.readNamespacedPod({ name: 'a', namespace: 'x' }))).toEqual({
      code: 404,
      reason: 'NotFound',
    });
  });

  test('errors are metav1.Status: AlreadyExists, missing namespace, invalid object', async () => {
    await core.createNamespacedPod({ namespace: 'x', body: pod('x/a') as V1Pod });
    expect(await rejection(core.createNamespacedPod({ namespace: 'x', body: pod('x/a') as V1Pod }))).toEqual({
      code: 409,
      reason: 'AlreadyExists',
    });
    expect(
      await rejection(core.createNamespacedPod({ namespace: 'nope', body: pod('nope/a') as V1Pod })),
    ).toEqual({
      code: 404,
      reason: 'NotFound',
    });
    expect(await rejection(core.createNamespace({ body: { metadata: { name: 'Bad_Name' } } }))).toEqual({
      code: 422,
      reason: 'Invalid',
    });
  });

  test('network policies: create, list all namespaces, get, replace, patch, delete; API defaults applied', async () => {
    const created = await net.createNamespacedNetworkPolicy({
      namespace: 'x',
      body: policy('x/p', {
        podSelector: { matchLabels: { app: 'a' } },
        egress: [{ ports: [{ port: 53 }] }],
      }) as V1NetworkPolicy,
    });
    expect(created.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(created.spec?.egress?.[0].ports?.[0].protocol).toBe('TCP');

    const all = await net.listNetworkPolicyForAllNamespaces();
    expect(all.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`)).toEqual(['x/p']);

    const read = await net.readNamespacedNetworkPolicy({ name: 'p', namespace: 'x' });
    read.spec!.ingress = [{ _from: [{ namespaceSelector: {} }] }];
    const replaced = await net.replaceNamespacedNetworkPolicy({ name: 'p', namespace: 'x', body: read });
    expect(replaced.metadata?.generation).toBe(2);
    expect(replaced.spec?.ingress?.[0]._from?.[0].namespaceSelector).toEqual({});

    const patched = await net.patchNamespacedNetworkPolicy(
      { name: 'p', namespace: 'x', body: { spec: { podSelector: { matchLabels: { app: 'b' } } } } },
      strategic(),
    );
    expect(patched.spec?.podSelector?.matchLabels).toEqual({ app: 'b' });
    expect(patched.metadata?.generation).toBe(3);

    await net.deleteNamespacedNetworkPolicy({ name: 'p', namespace: 'x' });
    expect((await net.listNamespacedNetworkPolicy({ namespace: 'x' })).items).toEqual([]);
  });
});

describe('Watch and informers', () => {
  test('Watch streams ADDED, MODIFIED, DELETED in order with the writes’ resourceVersions', async () => {
    const start = (await core.listNamespacedPod({ namespace: 'x' })).metadata?.resourceVersion;
    const { seen } = await watch('/api/v1/namespaces/x/pods', { resourceVersion: start });
    const created = await core.createNamespacedPod({ namespace: 'x', body: pod('x/a') as V1Pod });
    const patched = await core.patchNamespacedPod(
      { name: 'a', namespace: 'x', body: { metadata: { labels: { v: '2' } } } },
      merge(),
    );
    await core.deleteNamespacedPod({ name: 'a', namespace: 'x' });
    const deleteRv = server.resourceVersion;
    await waitFor('three events', () => seen.length >= 3);
    expect(seen.map((e) => [e.type, e.rv])).toEqual([
      ['ADDED', created.metadata?.resourceVersion],
      ['MODIFIED', patched.metadata?.resourceVersion],
      ['DELETED', deleteRv],
    ]);
    const rvs = seen.map((e) => Number(e.rv));
    expect([...rvs].sort((a, b) => a - b)).toEqual(rvs);
  });

  test('makeInformer sees add, update and delete, in order, and keeps the latest resourceVersion', async () => {
    server.create(pod('x/before'));
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/x/pods', () =>
      core.listNamespacedPod({ namespace: 'x' }),
    );
    const seen: string[] = [];
    informer.on('add', (p) => seen.push(`add ${p.metadata?.name} ${p.metadata?.resourceVersion}`));
    informer.on('update', (p) => seen.push(`update ${p.metadata?.name} ${p.metadata?.resourceVersion}`));
    informer.on('delete', (p) => seen.push(`delete ${p.metadata?.name} ${p.metadata?.resourceVersion}`));
    await informer.start();
    cleanups.push(() => informer.stop());
    await waitFor('watch connected', () => server.activeWatches === 1);
    const a = server.create(pod('x/a'));
    const a2 = server.patch({ kind: 'Pod', namespace: 'x', name: 'a' }, 'merge', {
      metadata: { labels: { x: 'y' } },
    });
    server.delete({ kind: 'Pod', namespace: 'x', name: 'before' });
    const deleteRv = server.resourceVersion;
    await waitFor('four callbacks', () => seen.length >= 4);
    const before = server.list('Pod').length === 1 ? undefined : 'unexpected';
    expect(before).toBeUndefined();
    expect(seen.slice(1)).toEqual([
      `add a ${a.metadata.resourceVersion}`,
      `update a ${a2.metadata.resourceVersion}`,
      `delete before ${deleteRv}`,
    ]);
    expect(seen[0]).toMatch(/^add before \d+$/);
    expect((informer as unknown as ListWatch<V1Pod>).latestResourceVersion()).toBe(deleteRv);
  });

  test('label and field selectors filter lists and watches; objects entering/leaving a selector are ADDED/DELETED', async () => {
    server.create(pod('x/n1-web', { nodeName: 'node-1', labels: { app: 'web', tier: 'fe' } }));
    server.create(pod('x/n1-db', { nodeName: 'node-1', labels: { app: 'db' } }));
    server.create(pod('x/n2-web', { nodeName: 'node-2', labels: { app: 'web' } }));
    server.create(pod('x/unscheduled', { labels: { app: 'web' } }));

    const onNode1 = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-1' });
    expect(onNode1.items.map((p) => p.metadata?.name)).toEqual(['n1-db', 'n1-web']);
    const unscheduled = await core.listNamespacedPod({ namespace: 'x', fieldSelector: 'spec.nodeName=' });
    expect(unscheduled.items.map((p) => p.metadata?.name)).toEqual(['unscheduled']);
    const web = await core.listNamespacedPod({ namespace: 'x', labelSelector: 'app in (web),tier!=fe' });
    expect(web.items.map((p) => p.metadata?.name)).toEqual(['n2-web', 'unscheduled']);
    const both = await core.listNamespacedPod({
      namespace: 'x',
      labelSelector: 'app=web,!tier',
      fieldSelector: 'spec.nodeName!=node-2',
    });
    expect(both.items.map((p) => p.metadata?.name)).toEqual(['unscheduled']);
    expect(
      await rejection(core.listNamespacedPod({ namespace: 'x', fieldSelector: 'spec.bogus=1' })),
    ).toEqual({
      code: 400,
      reason: 'BadRequest',
    });

    const rv = onNode1.metadata?.resourceVersion;
    const byNode = await watch('/api/v1/pods', {
      resourceVersion: rv,
      fieldSelector: 'spec.nodeName=node-1',
    });
    const byLabel = await watch('/api/v1/namespaces/x/pods', {
      resourceVersion: rv,
      labelSelector: 'app=web',
    });
    server.create(pod('x/n2-other', { nodeName: 'node-2', labels: { app: 'other' } })); // neither watch
    server.patch({ kind: 'Pod', namespace: 'x', name: 'n1-db' }, 'merge', {
      metadata: { labels: { app: 'web' } },
    }); // enters app=web
    server.patch({ kind: 'Pod', namespace: 'x', name: 'n2-web' }, 'merge', {
      metadata: { labels: { app: 'api' } },
    }); // leaves app=web
    server.delete({ kind: 'Pod', namespace: 'x', name: 'n1-web' });
    await waitFor('node watch events', () => byNode.seen.length >= 2);
    await waitFor('label watch events', () => byLabel.seen.length >= 3);
    expect(byNode.seen.map((e) => `${e.type} ${e.name}`)).toEqual(['MODIFIED n1-db', 'DELETED n1-web']);
    expect(byLabel.seen.map((e) => `${e.type} ${e.name}`)).toEqual([
      'ADDED n1-db',
      'DELETED n2-web',
      'DELETED n1-web',
    ]);
    // The DELETED of an object leaving the selector carries its previous labels and the new resourceVersion.
    expect(byLabel.seen[1].labels).toEqual({ app: 'web' });
    expect(byLabel.seen[1].rv).toBe(
      server.get({ kind: 'Pod', namespace: 'x', name: 'n2-web' })?.metadata.resourceVersion,
    );
  });

  test('an expired resourceVersion gives the client ERROR 410 Expired; a relist then works', async () => {
    const old = (await core.listNamespacedPod({ namespace: 'x' })).metadata?.resourceVersion;
    server.create(pod('x/a'));
    server.expireWatches();
    const { seen, done } = await watch('/api/v1/namespaces/x/pods', { resourceVersion: old });
    await waitFor('watch to end', () => done.called);
    expect(seen).toEqual([expect.objectContaining({ type: 'ERROR', code: 410, reason: 'Expired' })]);

    const relist = await core.listNamespacedPod({ namespace: 'x' });
    expect(relist.items.map((p) => p.metadata?.name)).toEqual(['a']);
    const fresh = await watch('/api/v1/namespaces/x/pods', {
      resourceVersion: relist.metadata?.resourceVersion,
    });
    server.create(pod('x/b'));
    await waitFor('event after relist', () => fresh.seen.length >= 1);
    expect(fresh.seen.map((e) => `${e.type} ${e.name}`)).toEqual(['ADDED b']);
  });

  test('an informer relists after expireWatches and goes on delivering events', async () => {
    let lists = 0;
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/x/pods', () => {
      lists++;
      return core.listNamespacedPod({ namespace: 'x' });
    });
    const added: string[] = [];
    informer.on('add', (p) => added.push(p.metadata?.name ?? ''));
    await informer.start();
    cleanups.push(() => informer.stop());
    await waitFor('watch connected', () => server.activeWatches === 1);
    server.expireWatches();
    await waitFor('relist', () => lists === 2);
    await waitFor('watch reconnected', () => server.activeWatches === 1);
    server.create(pod('x/after'));
    await waitFor('add after relist', () => added.includes('after'));
    expect(lists).toBe(2);
  });

  test('closeWatches: an informer resumes from its resourceVersion without relisting', async () => {
    let lists = 0;
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/x/pods', () => {
      lists++;
      return core.listNamespacedPod({ namespace: 'x' });
    });
    const added: string[] = [];
    informer.on('add', (p) => added.push(p.metadata?.name ?? ''));
    await informer.start();
    cleanups.push(() => informer.stop());
    await waitFor('watch connected', () => server.activeWatches === 1);
    server.closeWatches();
    server.create(pod('x/while-disconnected'));
    await waitFor('replayed add', () => added.includes('while-disconnected'));
    expect(lists).toBe(1);
  });

  test('allowWatchBookmarks delivers BOOKMARK events carrying the current resourceVersion', async () => {
    const { seen } = await watch('/api/v1/namespaces/x/pods', {
      resourceVersion: server.resourceVersion,
      allowWatchBookmarks: true,
    });
    server.create(pod('x/a'));
    const bookmark = await waitFor('a bookmark after the add', () =>
      seen.find((e, i) => e.type === 'BOOKMARK' && i > 0),
    );
    expect(seen[0].type).toBe('ADDED');
    expect(bookmark.rv).toBe(server.resourceVersion);
    const { seen: without } = await watch('/api/v1/namespaces/x/pods', {
      resourceVersion: server.resourceVersion,
    });
    server.create(pod('x/b'));
    await waitFor('the add', () => without.length >= 1);
    await waitFor(
      'another bookmark on the first watch',
      () => seen.filter((e) => e.type === 'BOOKMARK').length >= 2,
    );
    expect(without.every((e) => e.type !== 'BOOKMARK')).toBe(true);
  });

  test('timeoutSeconds ends the watch cleanly', async () => {
    const { done } = await watch('/api/v1/namespaces/x/pods', { timeoutSeconds: 1 });
    await waitFor('watch end', () => done.called);
    expect(done.err).toBeNull();
  });
});

describe('server restarts', () => {
  test('keeping state: a watch sees its connection break; relisting works and resourceVersions stay monotonic', async () => {
    const a = server.create(pod('x/a'));
    const { done } = await watch('/api/v1/namespaces/x/pods', {
      resourceVersion: a.metadata.resourceVersion,
    });
    await waitFor('watch connected', () => server.activeWatches === 1);
    const port = server.port;
    await server.restart({ keepState: true });
    expect(server.port).toBe(port);
    await waitFor('client notices', () => done.called);
    expect(done.err).toBeTruthy(); // a broken stream, not a clean end

    const list = await core.listNamespacedPod({ namespace: 'x' });
    expect(list.items.map((p) => p.metadata?.resourceVersion)).toEqual([a.metadata.resourceVersion]);
    expect(Number(list.metadata?.resourceVersion)).toBeGreaterThanOrEqual(Number(a.metadata.resourceVersion));
    const b = await core.createNamespacedPod({ namespace: 'x', body: pod('x/b') as V1Pod });
    expect(Number(b.metadata?.resourceVersion)).toBeGreaterThan(Number(list.metadata?.resourceVersion));
    // History survives too: a watch from before the restart replays what came after.
    const resumed = await watch('/api/v1/namespaces/x/pods', { resourceVersion: a.metadata.resourceVersion });
    await waitFor('replay', () => resumed.seen.length >= 1);
    expect(resumed.seen.map((e) => `${e.type} ${e.name}`)).toEqual(['ADDED b']);
  });

  test('an informer errors on restart and, started again, relists the kept state', async () => {
    server.create(pod('x/a'));
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/x/pods', () =>
      core.listNamespacedPod({ namespace: 'x' }),
    );
    const errorsSeen: unknown[] = [];
    informer.on('error', (err) => errorsSeen.push(err));
    await informer.start();
    cleanups.push(() => informer.stop());
    await waitFor('watch connected', () => server.activeWatches === 1);
    await server.restart();
    await waitFor('informer error', () => errorsSeen.length >= 1);
    server.create(pod('x/b'));
    await informer.start();
    await waitFor('relisted', () => informer.list('x').length === 2);
    expect(
      informer
        .list('x')
        .map((p) => p.metadata?.name)
        .sort(),
    ).toEqual(['a', 'b']);
  });

  test('dropping state: old resourceVersions expire and only the seed namespace remains', async () => {
    const a = server.create(pod('x/a'));
    await server.restart({ keepState: false });
    expect((await core.listNamespace()).items.map((n) => n.metadata?.name)).toEqual(['default']);
    const { seen, done } = await watch('/api/v1/pods', { resourceVersion: a.metadata.resourceVersion });
    await waitFor('watch end', () => done.called);
    expect(seen.map((e) => e.code)).toEqual([410]);
    expect(Number(server.resourceVersion)).toBeGreaterThan(Number(a.metadata.resourceVersion));
  });
});
