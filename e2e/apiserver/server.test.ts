/**
 * HTTP-level behaviour of the test API server checked with plain fetch: wire formats (watch JSON lines,
 * Status errors, Tables, discovery), list paging, namespace and finalizer lifecycles, fault injection.
 */
import { CLUSTER_NETWORK_POLICY_CRD, startApiServer, type TestApiServer } from './index';
import { namespace, pod, policy, rawWatch, waitFor, type StreamedEvent } from './testutil/fixtures';

jest.setTimeout(20_000);

let server: TestApiServer;
const aborts: (() => void)[] = [];

beforeEach(async () => {
  server = await startApiServer({ bookmarkIntervalMs: 50, objects: [namespace('x')] });
});

afterEach(async () => {
  aborts.splice(0).forEach((abort) => abort());
  await server.stop();
});

async function request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(server.url + path, {
    method,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- assertions dig into arbitrary JSON
  const json = (await response.json()) as Record<string, any>;
  return { status: response.status, contentType: response.headers.get('content-type'), body: json };
}

async function watchEvents(path: string, headers: Record<string, string> = {}) {
  const w = await rawWatch(server.url + path, { headers });
  aborts.push(w.abort);
  return w;
}

const summary = (events: StreamedEvent[]) =>
  events.map((e) => `${e.type} ${e.object.metadata?.name ?? e.object.code}`);

describe('wire formats', () => {
  test('errors are metav1.Status objects with upstream reasons', async () => {
    expect((await request('GET', '/api/v1/namespaces/x/pods/nope')).body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pods "nope" not found',
      reason: 'NotFound',
      details: { name: 'nope', kind: 'pods' },
      code: 404,
    });
    expect(
      (await request('GET', '/apis/networking.k8s.io/v1/namespaces/x/networkpolicies/nope')).body.message,
    ).toBe('networkpolicies.networking.k8s.io "nope" not found');
    expect((await request('GET', '/api/v1/services')).status).toBe(404);
    expect((await request('POST', '/api/v1/pods', pod('x/a'))).status).toBe(405);
    const mismatch = await request('POST', '/api/v1/namespaces/x/pods', pod('y/a'));
    expect([mismatch.status, mismatch.body.reason]).toEqual([400, 'BadRequest']);
    const invalid = await request('POST', '/api/v1/namespaces/x/pods', { metadata: { name: 'a' }, spec: {} });
    expect([invalid.status, invalid.body.reason, invalid.body.details.causes[0].field]).toEqual([
      422,
      'Invalid',
      'spec.containers',
    ]);
    const badPatch = await request(
      'PATCH',
      '/api/v1/namespaces/x',
      {},
      { 'Content-Type': 'application/xml' },
    );
    expect(badPatch.status).toBe(415);
  });

  test('lists carry ListMeta.resourceVersion and items without kind, like typed lists', async () => {
    server.create(pod('x/a'));
    const list = await request('GET', '/api/v1/namespaces/x/pods');
    expect(list.body).toMatchObject({
      kind: 'PodList',
      apiVersion: 'v1',
      metadata: { resourceVersion: server.resourceVersion },
    });
    expect(list.body.items[0].kind).toBeUndefined();
    expect(list.body.items[0].metadata.name).toBe('a');
  });

  test('discovery: aggregated when asked for, legacy otherwise', async () => {
    const aggregated = await request('GET', '/apis', undefined, {
      Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json',
    });
    expect(aggregated.contentType).toBe(
      'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
    );
    expect(aggregated.body.items[0].metadata.name).toBe('networking.k8s.io');
    expect(aggregated.body.items[0].versions[0].resources[0]).toMatchObject({
      resource: 'networkpolicies',
      scope: 'Namespaced',
    });
    const legacy = await request('GET', '/api/v1');
    expect(legacy.body.resources.map((r: { name: string }) => r.name)).toEqual([
      'namespaces',
      'namespaces/status',
      'pods',
      'pods/status',
      'pods/exec',
      'pods/binding',
      'nodes',
      'nodes/status',
    ]);
    expect(legacy.body.resources.find((r: { name: string }) => r.name === 'pods/exec')).toMatchObject({
      kind: 'PodExecOptions',
      verbs: ['create', 'get'],
    });
    const apps = await request('GET', '/apis/apps/v1');
    expect(apps.body.resources.map((r: { name: string }) => r.name)).toEqual([
      'deployments',
      'deployments/status',
      'deployments/scale',
      'statefulsets',
      'statefulsets/status',
      'statefulsets/scale',
    ]);
    expect((await request('GET', '/version')).body.gitVersion).toBe('v1.32.4');
    const openapi = await request('GET', '/openapi/v3');
    const doc = await request('GET', openapi.body.paths['apis/networking.k8s.io/v1'].serverRelativeURL);
    expect(doc.body.openapi).toBe('3.0.0');
  });

  test('Table responses for kubectl get, with columns per kind', async () => {
    server.create(
      policy('x/p', {
        podSelector: {
          matchLabels: { app: 'a' },
          matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }],
        },
      }),
    );
    const table = await request('GET', '/apis/networking.k8s.io/v1/namespaces/x/networkpolicies', undefined, {
      Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    });
    expect(table.body.kind).toBe('Table');
    expect(table.body.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
      'Name',
      'Pod-Selector',
      'Age',
    ]);
    expect(table.body.rows[0].cells.slice(0, 2)).toEqual(['p', 'app=a,tier notin (db)']);
    expect(table.body.rows[0].object).toMatchObject({
      kind: 'PartialObjectMetadata',
      metadata: { name: 'p' },
    });
  });
});

describe('watch', () => {
  test('JSON lines; no resourceVersion starts with the current state as ADDED', async () => {
    server.create(pod('x/a'));
    const w = await watchEvents('/api/v1/namespaces/x/pods?watch=1');
    expect(w.status).toBe(200);
    server.create(pod('x/b'));
    await waitFor('events', () => w.events.length >= 2);
    expect(summary(w.events)).toEqual(['ADDED a', 'ADDED b']);
    expect(w.events[0].object.kind).toBe('Pod');
  });

  test('an expired resourceVersion is one ERROR event with a 410 Expired Status, then the stream ends', async () => {
    const old = server.resourceVersion;
    server.create(pod('x/a'));
    server.expireWatches();
    const w = await watchEvents(`/api/v1/namespaces/x/pods?watch=true&resourceVersion=${old}`);
    await w.ended;
    expect(w.status).toBe(200);
    expect(w.events).toEqual([
      {
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: ${old} (${server.resourceVersion})`,
          reason: 'Expired',
          code: 410,
        },
      },
    ]);
  });

  test('history is bounded: falling out of it expires a resourceVersion', async () => {
    const small = await startApiServer({ historyLimit: 2 });
    try {
      const old = small.resourceVersion;
      for (const name of ['a', 'b', 'c']) small.create(namespace(name));
      const w = await rawWatch(`${small.url}/api/v1/namespaces?watch=1&resourceVersion=${old}`);
      await w.ended;
      expect(w.events.map((e) => e.object.code)).toEqual([410]);
    } finally {
      await small.stop();
    }
  });

  test('sendInitialEvents ends the initial burst with the initial-events-end bookmark', async () => {
    server.create(pod('x/a'));
    const w = await watchEvents(
      '/api/v1/namespaces/x/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan',
    );
    await waitFor('bookmark', () => w.events.length >= 2);
    expect(w.events[0].type).toBe('ADDED');
    expect(w.events[1]).toMatchObject({
      type: 'BOOKMARK',
      object: {
        kind: 'Pod',
        metadata: {
          resourceVersion: server.resourceVersion,
          annotations: { 'k8s.io/initial-events-end': 'true' },
        },
      },
    });
  });

  test('Table watches send column definitions with the first event only', async () => {
    const w = await watchEvents(
      `/api/v1/namespaces/x/pods?watch=1&resourceVersion=${server.resourceVersion}`,
      {
        Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
      },
    );
    server.create(pod('x/a'));
    server.create(pod('x/b'));
    await waitFor('events', () => w.events.length >= 2);
    const tables = w.events.map(
      (e) => e.object as unknown as { columnDefinitions: unknown[]; rows: { cells: string[] }[] },
    );
    expect(tables[0].columnDefinitions.length).toBeGreaterThan(0);
    expect(tables[1].columnDefinitions).toEqual([]);
    expect(tables.map((t) => t.rows[0].cells[0])).toEqual(['a', 'b']);
  });

  test('a watch on an object path watches that object only', async () => {
    const w = await watchEvents(
      `/api/v1/namespaces/x/pods/b?watch=1&resourceVersion=${server.resourceVersion}`,
    );
    server.create(pod('x/a'));
    server.create(pod('x/b'));
    await waitFor('event', () => w.events.length >= 1);
    expect(summary(w.events)).toEqual(['ADDED b']);
  });
});

describe('writes', () => {
  test('limit/continue pages through a consistent snapshot', async () => {
    for (const name of ['a', 'b', 'c']) server.create(pod(`x/${name}`));
    const first = await request('GET', '/api/v1/namespaces/x/pods?limit=2');
    expect(first.body.items.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual(['a', 'b']);
    expect(first.body.metadata.remainingItemCount).toBe(1);
    server.delete({ kind: 'Pod', namespace: 'x', name: 'c' });
    server.create(pod('x/d'));
    const rest = await request(
      'GET',
      `/api/v1/namespaces/x/pods?limit=2&continue=${first.body.metadata.continue}`,
    );
    expect(rest.body.items.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual(['c']);
    expect(rest.body.metadata.resourceVersion).toBe(first.body.metadata.resourceVersion);
    expect(rest.body.metadata.continue).toBeUndefined();
    server.expireWatches();
    expect(
      (await request('GET', `/api/v1/namespaces/x/pods?limit=2&continue=${first.body.metadata.continue}`))
        .status,
    ).toBe(410);
  });

  test('a no-op update stores nothing and emits no event', async () => {
    const a = server.create(pod('x/a'));
    const w = await watchEvents(
      `/api/v1/namespaces/x/pods?watch=1&resourceVersion=${a.metadata.resourceVersion}`,
    );
    const same = await request('PUT', '/api/v1/namespaces/x/pods/a', a);
    expect(same.body.metadata.resourceVersion).toBe(a.metadata.resourceVersion);
    server.create(pod('x/b'));
    await waitFor('event', () => w.events.length >= 1);
    expect(summary(w.events)).toEqual(['ADDED b']);
  });

  test('deleting a namespace: Terminating, its contents deleted, then the namespace', async () => {
    server.create(pod('x/a'));
    server.create(policy('x/p'));
    const rv = server.resourceVersion;
    const namespaces = await watchEvents(`/api/v1/namespaces?watch=1&resourceVersion=${rv}`);
    const pods = await watchEvents(`/api/v1/pods?watch=1&resourceVersion=${rv}`);
    const deleted = await request('DELETE', '/api/v1/namespaces/x');
    expect(deleted.body.status.phase).toBe('Terminating');
    await waitFor('namespace events', () => namespaces.events.length >= 2);
    await waitFor('pod events', () => pods.events.length >= 1);
    expect(namespaces.events.map((e) => `${e.type} ${(e.object.status as { phase: string }).phase}`)).toEqual(
      ['MODIFIED Terminating', 'DELETED Terminating'],
    );
    expect(summary(pods.events)).toEqual(['DELETED a']);
    expect(Number(pods.events[0].object.metadata.resourceVersion)).toBeLessThan(
      Number(namespaces.events[1].object.metadata.resourceVersion),
    );
    expect(server.list('NetworkPolicy')).toEqual([]);
    expect((await request('POST', '/api/v1/namespaces/x/pods', pod('x/b'))).status).toBe(404);
  });

  test('finalizers hold a deletion until removed; a terminating namespace refuses new content', async () => {
    server.create({ ...namespace('held'), metadata: { name: 'held', finalizers: ['example.com/hold'] } });
    server.create({
      ...pod('held/a'),
      metadata: { name: 'a', namespace: 'held', finalizers: ['example.com/hold'] },
    });
    const pending = await request('DELETE', '/api/v1/namespaces/held/pods/a');
    expect(pending.body.metadata.deletionTimestamp).toBeDefined();
    await request('DELETE', '/api/v1/namespaces/held');
    const refused = await request('POST', '/api/v1/namespaces/held/pods', pod('held/b'));
    expect([refused.status, refused.body.reason]).toEqual([403, 'Forbidden']);
    await request(
      'PATCH',
      '/api/v1/namespaces/held/pods/a',
      { metadata: { finalizers: null } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    expect(server.get({ kind: 'Pod', namespace: 'held', name: 'a' })).toBeUndefined();
    expect(server.get({ kind: 'Namespace', name: 'held' })?.status).toEqual({ phase: 'Terminating' });
    server.patch({ kind: 'Namespace', name: 'held' }, 'json', [
      { op: 'remove', path: '/metadata/finalizers' },
    ]);
    expect(server.get({ kind: 'Namespace', name: 'held' })).toBeUndefined();
  });

  test('dryRun=All validates without storing', async () => {
    const created = await request('POST', '/api/v1/namespaces/x/pods?dryRun=All', pod('x/a'));
    expect(created.status).toBe(201);
    expect(server.get({ kind: 'Pod', namespace: 'x', name: 'a' })).toBeUndefined();
  });

  test('generateName picks a free name', async () => {
    const created = await request('POST', '/api/v1/namespaces/x/pods', {
      ...pod('x/a'),
      metadata: { generateName: 'web-' },
    });
    expect(created.body.metadata.name).toMatch(/^web-[a-z0-9]{5}$/);
  });
});

describe('fault injection', () => {
  test('failures hit matching requests the given number of times; latency delays them', async () => {
    const remove = server.injectFault({
      method: 'GET',
      path: '/api/v1/namespaces/x/pods',
      failWith: 503,
      times: 1,
    });
    const failed = await request('GET', '/api/v1/namespaces/x/pods');
    expect([failed.status, failed.body.reason]).toEqual([503, 'ServiceUnavailable']);
    expect((await request('GET', '/api/v1/namespaces/x/pods')).status).toBe(200);
    remove();
    server.injectFault({ path: /watch=1/, latencyMs: 20, failWith: 429 });
    const throttled = await fetch(`${server.url}/api/v1/pods?watch=1`);
    expect([throttled.status, throttled.headers.get('retry-after')]).toEqual([429, '1']);
    server.clearFaults();
    expect((await request('GET', '/api/v1/pods')).status).toBe(200);
  });
});

describe('restart in a new process (saveState, restore)', () => {
  test('objects come back as they were, revisions continue, older watches get 410 and a current one resumes', async () => {
    server.create(structuredClone(CLUSTER_NETWORK_POLICY_CRD));
    const a = server.create(pod('x/a'));
    server.create({
      apiVersion: 'policy.networking.k8s.io/v1alpha2',
      kind: 'ClusterNetworkPolicy',
      metadata: { name: 'guard' },
      spec: { tier: 'Admin', priority: 10, subject: { namespaces: {} }, ingress: [] },
    });
    const before = server.resourceVersion;
    const old = String(Number(before) - 1);
    const saved = JSON.parse(JSON.stringify(server.saveState())) as ReturnType<TestApiServer['saveState']>;
    await server.stop();
    server = await startApiServer({ bookmarkIntervalMs: 50, restore: saved });
    expect(server.resourceVersion).toBe(before);
    const back = server.get({ kind: 'Pod', namespace: 'x', name: 'a' })!;
    expect(back.metadata).toEqual(a.metadata);
    expect(server.get({ kind: 'ClusterNetworkPolicy', name: 'guard' })).toBeDefined();
    expect(server.list('Namespace').map((n) => n.metadata.name)).toEqual(
      expect.arrayContaining(['default', 'x']),
    );
    const expired = await watchEvents(`/api/v1/namespaces/x/pods?watch=true&resourceVersion=${old}`);
    await expired.ended;
    expect(expired.events.map((e) => e.object.code)).toEqual([410]);
    const current = await watchEvents(`/api/v1/namespaces/x/pods?watch=true&resourceVersion=${before}`);
    const b = server.create(pod('x/b'));
    expect(Number(b.metadata.resourceVersion)).toBe(Number(before) + 1);
    await waitFor('event', () => current.events.length >= 1);
    expect(summary(current.events)).toEqual(['ADDED b']);
  });
});
