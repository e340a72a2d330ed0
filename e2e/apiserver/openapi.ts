/**
 * A minimal but valid OpenAPI v3 description (/openapi/v3 and /openapi/v3/{api/v1|apis/g/v}), enough for
 * kubectl: every operation names its GroupVersionKind and accepts the `fieldValidation` query parameter,
 * so kubectl >= 1.27 leaves validation to the server instead of fetching the (protobuf-only) OpenAPI v2
 * document. Object schemas are deliberately loose (spec and status preserve unknown fields), except
 * for custom resources whose CRD carries an openAPIV3Schema: that schema is served as given.
 *
 * PATCH operations do not advertise application/strategic-merge-patch+json: kubectl would then compute
 * apply patches from these loose schemas; without it kubectl uses its compiled-in types, whose patch
 * strategies the server's strategic merge patch implements (patch/patch-meta.ts).
 */
import { createHash } from 'node:crypto';
import { RESOURCE_TYPES, type ResourceType } from './resources';

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';

/** The CRD's openAPIV3Schema of a custom resource type, when it has one. */
export type CustomSchemaLookup = (rt: ResourceType) => Record<string, unknown> | undefined;

function schemaName(rt: ResourceType): string {
  // Custom resources are named by their reversed group, as apiextensions-apiserver names them.
  if (rt.customResource) return `${rt.group.split('.').reverse().join('.')}.${rt.version}.${rt.kind}`;
  return rt.group
    ? `io.k8s.api.${rt.group.split('.')[0]}.${rt.version}.${rt.kind}`
    : `io.k8s.api.core.${rt.version}.${rt.kind}`;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function gvk(rt: ResourceType): Record<string, string> {
  return { group: rt.group, version: rt.version, kind: rt.kind };
}

function query(name: string, description: string): Record<string, unknown> {
  return { name, in: 'query', description, schema: { type: 'string', uniqueItems: true } };
}

const WRITE_PARAMETERS = [
  query('dryRun', 'When present, indicates that modifications should not be persisted.'),
  query(
    'fieldManager',
    'fieldManager is a name associated with the actor or entity that is making these changes.',
  ),
  query(
    'fieldValidation',
    'Ignore, Warn or Strict: how to handle unknown or duplicate fields in the request body.',
  ),
];

const PATCH_CONTENT_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/apply-patch+yaml',
];

function operation(
  rt: ResourceType,
  action: string,
  id: string,
  body: unknown,
  parameters: unknown[],
): Record<string, unknown> {
  const op: Record<string, unknown> = {
    operationId: id,
    tags: [rt.group ? `${rt.group.split('.')[0]}_${rt.version}` : `core_${rt.version}`],
    parameters,
    responses: {
      '200': { description: 'OK', content: { 'application/json': { schema: ref(schemaName(rt)) } } },
    },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk(rt),
  };
  if (body) op.requestBody = body;
  return op;
}

function paths(rt: ResourceType): Record<string, unknown> {
  const prefix = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
  const collection = rt.namespaced
    ? `${prefix}/namespaces/{namespace}/${rt.plural}`
    : `${prefix}/${rt.plural}`;
  const id = (verb: string, suffix = '') =>
    `${verb}${rt.group ? rt.group.split('.')[0].replace(/^./, (c) => c.toUpperCase()) : 'Core'}${rt.version.replace(/^./, (c) => c.toUpperCase())}${rt.namespaced ? 'Namespaced' : ''}${rt.kind}${suffix}`;
  const jsonBody = { required: true, content: { '*/*': { schema: ref(schemaName(rt)) } } };
  const patchBody = {
    required: true,
    content: Object.fromEntries(PATCH_CONTENT_TYPES.map((t) => [t, { schema: ref(`${META}.Patch`) }])),
  };
  const result: Record<string, unknown> = {
    [collection]: {
      get: operation(rt, 'list', id('list'), undefined, []),
      post: operation(rt, 'post', id('create'), jsonBody, WRITE_PARAMETERS),
    },
    [`${collection}/{name}`]: {
      get: operation(rt, 'get', id('read'), undefined, []),
      put: operation(rt, 'put', id('replace'), jsonBody, WRITE_PARAMETERS),
      patch: operation(rt, 'patch', id('patch'), patchBody, [
        ...WRITE_PARAMETERS,
        query('force', 'Force is going to "force" Apply requests.'),
      ]),
      delete: operation(rt, 'delete', id('delete'), undefined, []),
    },
  };
  for (const sub of rt.subresources.filter((s) => s === 'status' || s === 'scale')) {
    const suffix = sub[0].toUpperCase() + sub.slice(1);
    result[`${collection}/{name}/${sub}`] = {
      get: operation(rt, 'get', id('read', suffix), undefined, []),
      put: operation(rt, 'put', id('replace', suffix), jsonBody, WRITE_PARAMETERS),
      patch: operation(rt, 'patch', id('patch', suffix), patchBody, WRITE_PARAMETERS),
    };
  }
  if (rt.namespaced) {
    result[`${prefix}/${rt.plural}`] = {
      get: operation(rt, 'list', id('list').replace('Namespaced', '') + 'ForAllNamespaces', undefined, []),
    };
  }
  return result;
}

function schemas(types: ResourceType[], custom: CustomSchemaLookup): Record<string, unknown> {
  const loose = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  const result: Record<string, unknown> = {
    [`${META}.ObjectMeta`]: {
      type: 'object',
      description: 'ObjectMeta is metadata that all persisted resources must have.',
      properties: {
        name: { type: 'string' },
        generateName: { type: 'string' },
        namespace: { type: 'string' },
        uid: { type: 'string' },
        resourceVersion: { type: 'string' },
        generation: { type: 'integer', format: 'int64' },
        creationTimestamp: { type: 'string', format: 'date-time' },
        deletionTimestamp: { type: 'string', format: 'date-time' },
        labels: { type: 'object', additionalProperties: { type: 'string', default: '' } },
        annotations: { type: 'object', additionalProperties: { type: 'string', default: '' } },
        finalizers: {
          type: 'array',
          items: { type: 'string', default: '' },
          'x-kubernetes-list-type': 'set',
          'x-kubernetes-patch-strategy': 'merge',
        },
        ownerReferences: {
          type: 'array',
          items: loose,
          'x-kubernetes-patch-merge-key': 'uid',
          'x-kubernetes-patch-strategy': 'merge',
        },
        managedFields: { type: 'array', items: loose },
      },
    },
    [`${META}.Patch`]: {
      type: 'object',
      description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.',
    },
  };
  for (const rt of types) {
    const given = custom(rt);
    if (given) {
      const props = (given.properties ?? {}) as Record<string, unknown>;
      result[schemaName(rt)] = {
        ...given,
        properties: { ...props, metadata: { default: {}, allOf: [ref(`${META}.ObjectMeta`)] } },
        'x-kubernetes-group-version-kind': [gvk(rt)],
      };
      continue;
    }
    result[schemaName(rt)] = {
      type: 'object',
      description: `${rt.kind} (served by the Palisade test API server; spec and status are not described).`,
      properties: {
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
        metadata: { default: {}, allOf: [ref(`${META}.ObjectMeta`)] },
        spec: loose,
        status: loose,
      },
      'x-kubernetes-group-version-kind': [gvk(rt)],
    };
  }
  return result;
}

function groupVersionPath(rt: ResourceType): string {
  return rt.group ? `apis/${rt.group}/${rt.version}` : `api/${rt.version}`;
}

/** The OpenAPI v3 document of one group version ("api/v1", "apis/networking.k8s.io/v1"). */
export function openApiV3Document(
  groupVersionPathName: string,
  gitVersion: string,
  served: readonly ResourceType[] = RESOURCE_TYPES,
  custom: CustomSchemaLookup = () => undefined,
): Record<string, unknown> | undefined {
  const types = served.filter((rt) => groupVersionPath(rt) === groupVersionPathName);
  if (types.length === 0) return undefined;
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: gitVersion },
    paths: Object.assign({}, ...types.map(paths)),
    components: { schemas: schemas(types, custom) },
  };
}

export function openApiV3Root(
  gitVersion: string,
  served: readonly ResourceType[] = RESOURCE_TYPES,
  custom: CustomSchemaLookup = () => undefined,
): Record<string, unknown> {
  const entries = [...new Set(served.map(groupVersionPath))].map((gv) => {
    const hash = createHash('sha256')
      .update(JSON.stringify(openApiV3Document(gv, gitVersion, served, custom)))
      .digest('hex')
      .toUpperCase();
    return [gv, { serverRelativeURL: `/openapi/v3/${gv}?hash=${hash}` }];
  });
  return { paths: Object.fromEntries(entries) };
}
