/**
 * CustomResourceDefinitions and the ClusterNetworkPolicy resource over HTTP: not served without
 * its CRD; served (routes, discovery, OpenAPI) once the CRD is created, with the CRD's validation
 * (schema and CEL rules, 422 with causes), strict field validation, the status subresource, the
 * Tier/Priority table; deleting the CRD deletes its objects and ends their watches. Also Nodes.
 */
import { CLUSTER_NETWORK_POLICY_CRD, startApiServer, type KubeObject, type TestApiServer } from './index';
import { namespace, rawWatch, waitFor } from './testutil/fixtures';

jest.setTimeout(20_000);

let server: TestApiServer;
const aborts: (() => void)[] = [];

beforeEach(async () => {
  server = await startApiServer({ objects: [namespace('x')] });
});

afterEach(async () => {
  aborts.splice(0).forEach((abort) => abort());
  await server.stop();
});

const CNP_PATH = '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies';
const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

async function request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(server.url + path, {
    method,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- assertions dig into arbitrary JSON
  const json = (await response.json()) as Record<string, any>;
  return { status: response.status, body: json };
}

function cnp(name: string, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'policy.networking.k8s.io/v1alpha2',
    kind: 'ClusterNetworkPolicy',
    metadata: { name },
    spec: {
      tier: 'Admin',
      priority: 10,
      subject: { namespaces: {} },
      ingress: [{ name: 'deny-all', action: 'Deny', from: [{ namespaces: {} }] }],
      ...spec,
    },
  };
}

const groupNames = async () =>
  ((await request('GET', '/apis')).body.groups as { name: string }[]).map((g) => g.name);

test('without its CRD the resource is not served; creating the CRD serves it at once', async () => {
  expect((await request('GET', CNP_PATH)).status).toBe(404);
  expect(await groupNames()).not.toContain('policy.networking.k8s.io');
  expect(() => server.create(cnp('early'))).toThrow(/is its CRD installed/);

  const created = await request('POST', CRD_PATH, CLUSTER_NETWORK_POLICY_CRD);
  expect(created.status).toBe(201);
  expect(
    created.body.status.conditions.map((c: { type: string; status: string }) => [c.type, c.status]),
  ).toEqual([
    ['NamesAccepted', 'True'],
    ['Established', 'True'],
  ]);
  expect(await groupNames()).toContain('policy.networking.k8s.io');
  const resources = (await request('GET', '/apis/policy.networking.k8s.io/v1alpha2')).body.resources;
  expect(resources).toEqual([
    {
      name: 'clusternetworkpolicies',
      singularName: 'clusternetworkpolicy',
      namespaced: false,
      kind: 'ClusterNetworkPolicy',
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      shortNames: ['cnp'],
    },
    {
      name: 'clusternetworkpolicies/status',
      singularName: '',
      namespaced: false,
      kind: 'ClusterNetworkPolicy',
      verbs: ['get', 'patch', 'update'],
    },
  ]);
  const aggregated = await request('GET', '/apis', undefined, {
    Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
  });
  const group = aggregated.body.items.find(
    (g: { metadata: { name: string } }) => g.metadata.name === 'policy.networking.k8s.io',
  );
  expect(group.versions[0].resources[0]).toMatchObject({
    resource: 'clusternetworkpolicies',
    scope: 'Cluster',
  });
  const openapi = await request('GET', '/openapi/v3');
  expect(Object.keys(openapi.body.paths)).toContain('apis/policy.networking.k8s.io/v1alpha2');
  const doc = await request(
    'GET',
    openapi.body.paths['apis/policy.networking.k8s.io/v1alpha2'].serverRelativeURL,
  );
  expect(Object.keys(doc.body.components.schemas)).toContain(
    'io.k8s.networking.policy.v1alpha2.ClusterNetworkPolicy',
  );

  expect((await request('POST', CNP_PATH, cnp('guard'))).status).toBe(201);
  expect((await request('GET', `${CNP_PATH}/guard`)).body.spec.tier).toBe('Admin');
});

describe('with the CRD', () => {
  beforeEach(() => {
    server.create(structuredClone(CLUSTER_NETWORK_POLICY_CRD));
  });

  test("the CRD's validation: every problem as a cause, 422 Invalid", async () => {
    const bad = await request(
      'POST',
      CNP_PATH,
      cnp('bad', {
        tier: 'Middle',
        priority: 1001,
        subject: { namespaces: {}, pods: { podSelector: {} } },
        egress: [
          {
            action: 'Accept',
            to: [{ networks: ['10.0.0.1'] }],
            protocols: [{ destinationNamedPort: 'http' }],
          },
        ],
      }),
    );
    expect(bad.status).toBe(422);
    expect(bad.body.reason).toBe('Invalid');
    expect(bad.body.details.causes).toEqual([
      {
        reason: 'FieldValueNotSupported',
        field: 'spec.tier',
        message: 'Unsupported value: "Middle": supported values: "Admin", "Baseline"',
      },
      {
        reason: 'FieldValueInvalid',
        field: 'spec.priority',
        message: 'Invalid value: 1001: must be between 0 and 1000, inclusive',
      },
      {
        reason: 'FieldValueInvalid',
        field: 'spec.subject',
        message: 'Invalid value: must set exactly one of namespaces, pods (has 2: namespaces, pods)',
      },
      {
        reason: 'FieldValueInvalid',
        field: 'spec.egress[0].to[0].networks[0]',
        message: 'Invalid value: "10.0.0.1": Invalid CIDR format provided',
      },
      {
        reason: 'FieldValueInvalid',
        field: 'spec.egress[0]',
        message:
          'Invalid value: networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames',
      },
    ]);
    expect(bad.body.message).toMatch(/^ClusterNetworkPolicy "bad" is invalid: spec\.tier: Unsupported value/);
  });

  test('unknown fields: refused with fieldValidation=Strict (kubectl), pruned otherwise', async () => {
    const typo = cnp('typo', { ingres: [] });
    const strict = await request('POST', `${CNP_PATH}?fieldValidation=Strict`, typo);
    expect(strict.status).toBe(400);
    expect(strict.body.message).toBe(
      'ClusterNetworkPolicy in version "v1alpha2" cannot be handled as a ClusterNetworkPolicy: strict decoding error: unknown field "spec.ingres"',
    );
    const pruned = await request('POST', CNP_PATH, typo);
    expect(pruned.status).toBe(201);
    expect(pruned.body.spec.ingres).toBeUndefined();
  });

  test('status only through /status, and checked there; the main resource keeps it', async () => {
    const withStatus = { ...cnp('s'), status: { conditions: [] } };
    const created = await request('POST', CNP_PATH, withStatus);
    expect(created.body.status).toBeUndefined();
    const condition = {
      type: 'Programmed',
      status: 'True',
      reason: 'Applied',
      message: 'enforced on 2 nodes',
      lastTransitionTime: '2026-01-01T00:00:00Z',
    };
    const ok = await request('PUT', `${CNP_PATH}/s/status`, {
      ...created.body,
      status: { conditions: [condition] },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.status.conditions).toEqual([condition]);
    const bad = await request('PUT', `${CNP_PATH}/s/status`, {
      ...ok.body,
      status: { conditions: [{ ...condition, status: 'Maybe' }] },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.details.causes[0].field).toBe('status.conditions[0].status');
    const spec = await request('PUT', `${CNP_PATH}/s`, {
      ...ok.body,
      spec: { ...ok.body.spec, priority: 20 },
      status: {},
    });
    expect(spec.body.spec.priority).toBe(20);
    expect(spec.body.status.conditions).toEqual([condition]);
  });

  test('kubectl get prints NAME, TIER, PRIORITY, AGE', async () => {
    server.create(cnp('guard', { tier: 'Baseline', priority: 7 }));
    const table = await request('GET', CNP_PATH, undefined, {
      Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
    });
    expect(table.body.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
      'Name',
      'Tier',
      'Priority',
      'Age',
    ]);
    expect(table.body.rows[0].cells.slice(0, 3)).toEqual(['guard', 'Baseline', '7']);
  });

  test('strategic merge patch is refused for custom resources (415); merge patch works', async () => {
    server.create(cnp('p'));
    const smp = await request(
      'PATCH',
      `${CNP_PATH}/p`,
      { spec: { priority: 1 } },
      {
        'Content-Type': 'application/strategic-merge-patch+json',
      },
    );
    expect(smp.status).toBe(415);
    const merge = await request(
      'PATCH',
      `${CNP_PATH}/p`,
      { spec: { priority: 1 } },
      {
        'Content-Type': 'application/merge-patch+json',
      },
    );
    expect([merge.status, merge.body.spec.priority]).toEqual([200, 1]);
  });

  test('deleting the CRD deletes its objects (DELETED events), ends the watch, and unserves the resource', async () => {
    server.create(cnp('a'));
    server.create(cnp('b'));
    const w = await rawWatch(`${server.url}${CNP_PATH}?watch=true`);
    aborts.push(w.abort);
    await waitFor('the initial events', () => w.events.length === 2);
    expect(
      (await request('DELETE', `${CRD_PATH}/clusternetworkpolicies.policy.networking.k8s.io`)).status,
    ).toBe(200);
    await w.ended;
    expect(w.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual([
      'ADDED a',
      'ADDED b',
      'DELETED a',
      'DELETED b',
    ]);
    expect((await request('GET', CNP_PATH)).status).toBe(404);
    // Installed again: served again, empty.
    server.create(structuredClone(CLUSTER_NETWORK_POLICY_CRD));
    expect((await request('GET', CNP_PATH)).body.items).toEqual([]);
  });

  test('a CRD whose name does not match its names is refused', async () => {
    const wrong = structuredClone(CLUSTER_NETWORK_POLICY_CRD);
    wrong.metadata.name = 'cnps.policy.networking.k8s.io';
    const r = await request('POST', CRD_PATH, wrong);
    expect(r.status).toBe(422);
    expect(r.body.details.causes[0]).toEqual({
      reason: 'FieldValueInvalid',
      field: 'metadata.name',
      message: 'Invalid value: "cnps.policy.networking.k8s.io": must be spec.names.plural+"."+spec.group',
    });
  });

  test('state files keep the CRD before its objects', async () => {
    server.create(cnp('kept'));
    const kinds = server.snapshot().map((o) => o.kind);
    expect(kinds.indexOf('CustomResourceDefinition')).toBeLessThan(kinds.indexOf('ClusterNetworkPolicy'));
    await server.restart({ keepState: false });
    expect((await request('GET', CNP_PATH)).status).toBe(404);
  });
});

test('Nodes: cluster-scoped, /status, the kubectl table', async () => {
  const node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'n1', labels: { 'node-role.kubernetes.io/control-plane': '' } },
    spec: { podCIDRs: ['10.244.1.0/24'] },
    status: {
      addresses: [{ type: 'InternalIP', address: '172.18.0.2' }],
      conditions: [{ type: 'Ready', status: 'True' }],
      nodeInfo: { kubeletVersion: 'v1.32.4' },
    },
  };
  server.create(node);
  const table = await request('GET', '/api/v1/nodes', undefined, {
    Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
  });
  expect(table.body.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
    'Name',
    'Status',
    'Roles',
    'Age',
    'Version',
    'Internal-IP',
    'External-IP',
    'OS-Image',
    'Kernel-Version',
    'Container-Runtime',
  ]);
  const cells = table.body.rows[0].cells;
  expect([cells[0], cells[1], cells[2], cells[4], cells[5], cells[6]]).toEqual([
    'n1',
    'Ready',
    'control-plane',
    'v1.32.4',
    '172.18.0.2',
    '<none>',
  ]);
  // A kubelet registers its node with its status (upstream's node strategy keeps it on create);
  // later the status changes only through /status.
  const created = await request('POST', '/api/v1/nodes', { ...node, metadata: { name: 'n2' } });
  expect(created.body.status.addresses).toEqual(node.status.addresses);
  const moved = { addresses: [{ type: 'InternalIP', address: '172.18.0.3' }] };
  const ignored = await request('PUT', '/api/v1/nodes/n2', { ...created.body, status: moved });
  expect(ignored.body.status.addresses).toEqual(node.status.addresses);
  const updated = await request('PUT', '/api/v1/nodes/n2/status', { ...created.body, status: moved });
  expect(updated.body.status.addresses).toEqual(moved.addresses);
});
