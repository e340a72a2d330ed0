/**
 * apiextensions.k8s.io/v1 CustomResourceDefinitions, and the custom resources they make the
 * server serve, as kube-apiserver's apiextensions part does:
 *
 *   create CRD ──▶ status Established ──▶ ServedTypes.all() has one ResourceType per served version
 *                                          (discovery, OpenAPI, routes, tables follow from it)
 *   delete CRD ──▶ every custom resource of it deleted (DELETED events) ──▶ watches end, routes 404
 *
 * A custom resource is stored and served as sent (no conversion between versions); its table has
 * the CRD's additionalPrinterColumns. Validation beyond metadata comes from an implementation
 * registered for the CRD (kinds/cluster-network-policy.ts for ClusterNetworkPolicy, written
 * after the CRD's schema and CEL rules); other CRDs' schemas are not enforced.
 */
import type { StatusCause } from '../errors';
import type { ResourceType, Verb } from '../resources';
import type { KindPrinter } from '../table-columns';
import type { VersionedStore } from '../store';
import { humanDuration, type TableColumn } from '../table';
import { isPlainObject, type KubeObject } from '../types';

export const CRD_PLURAL = 'customresourcedefinitions';

/** What a custom resource gets beyond metadata checks, per CRD name and version. */
export interface CustomResourceImplementation {
  validate(obj: KubeObject): StatusCause[];
  validateStatus?(obj: KubeObject): StatusCause[];
  pruneUnknownFields?(obj: KubeObject): string[];
}

/** Implementations by "<crd name>/<version>" ("clusternetworkpolicies.policy.networking.k8s.io/v1alpha2"). */
export type CustomResourceImplementations = ReadonlyMap<string, CustomResourceImplementation>;

function record(v: unknown): Record<string, unknown> {
  return isPlainObject(v) ? v : {};
}

function records(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.filter(isPlainObject) : [];
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

function invalid(field: string, message: string): StatusCause {
  return { reason: 'FieldValueInvalid', field, message };
}

function required(field: string): StatusCause {
  return { reason: 'FieldValueRequired', field, message: 'Required value' };
}

/** The checks of upstream's ValidateCustomResourceDefinition that decide what gets served. */
function validateCrd(crd: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const spec = record(crd.spec);
  const names = record(spec.names);
  const group = str(spec.group);
  const plural = str(names.plural);
  if (!group) causes.push(required('spec.group'));
  else if (!DNS_SUBDOMAIN.test(group) || !group.includes('.'))
    causes.push(invalid('spec.group', `Invalid value: "${group}": should be a domain with at least one dot`));
  if (!plural) causes.push(required('spec.names.plural'));
  else if (!DNS_LABEL.test(plural))
    causes.push(
      invalid(
        'spec.names.plural',
        `Invalid value: "${plural}": a DNS-1035 label must consist of lower case alphanumeric characters or '-'`,
      ),
    );
  if (!str(names.kind)) causes.push(required('spec.names.kind'));
  if (group && plural && crd.metadata.name !== `${plural}.${group}`)
    causes.push(
      invalid(
        'metadata.name',
        `Invalid value: "${crd.metadata.name ?? ''}": must be spec.names.plural+"."+spec.group`,
      ),
    );
  if (spec.scope !== 'Cluster' && spec.scope !== 'Namespaced')
    causes.push({
      reason: 'FieldValueNotSupported',
      field: 'spec.scope',
      message: `Unsupported value: "${str(spec.scope)}": supported values: "Cluster", "Namespaced"`,
    });
  const versions = records(spec.versions);
  if (versions.length === 0) causes.push(required('spec.versions'));
  const seen = new Set<string>();
  versions.forEach((v, i) => {
    const name = str(v.name);
    if (!name) causes.push(required(`spec.versions[${i}].name`));
    if (seen.has(name))
      causes.push({
        reason: 'FieldValueDuplicate',
        field: `spec.versions[${i}].name`,
        message: `Duplicate value: "${name}"`,
      });
    seen.add(name);
  });
  if (versions.length > 0 && versions.filter((v) => v.storage === true).length !== 1)
    causes.push(
      invalid('spec.versions', 'Invalid value: must have exactly one version marked as storage version'),
    );
  return causes;
}

export const customResourceDefinitions: ResourceType = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  listKind: 'CustomResourceDefinitionList',
  plural: CRD_PLURAL,
  singular: 'customresourcedefinition',
  namespaced: false,
  shortNames: ['crd', 'crds'],
  categories: ['api-extensions'],
  verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  subresources: ['status'],
  selectableFields: ['metadata.name'],
  fieldsOf: (obj) => ({ 'metadata.name': obj.metadata.name ?? '' }),
  applyDefaults(obj) {
    const names = record(record(obj.spec).names);
    const kind = str(names.kind);
    if (kind && !names.singular) names.singular = kind.toLowerCase();
    if (kind && !names.listKind) names.listKind = `${kind}List`;
  },
  validate: validateCrd,
  prepareForCreate(obj) {
    // The apiextensions controllers accept the names and establish the CRD at once.
    const spec = record(obj.spec);
    const storage = records(spec.versions).find((v) => v.storage === true);
    const now = timestamp(new Date());
    const condition = (type: string, reason: string, message: string) => ({
      type,
      status: 'True',
      lastTransitionTime: now,
      reason,
      message,
    });
    obj.status = {
      conditions: [
        condition('NamesAccepted', 'NoConflicts', 'no conflicts found'),
        condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
      ],
      acceptedNames: structuredClone(spec.names ?? {}),
      storedVersions: storage ? [str(storage.name)] : [],
    };
  },
  printer: {
    columns: [
      {
        name: 'Name',
        type: 'string',
        format: 'name',
        description: 'Name must be unique within a namespace.',
        priority: 0,
      },
      {
        name: 'Created At',
        type: 'date',
        format: '',
        description: 'the time this CRD was created',
        priority: 0,
      },
    ],
    cells: (crd) => [crd.metadata.name ?? '', crd.metadata.creationTimestamp ?? ''],
  },
};

// ---- printer columns ----------------------------------------------------------------------------

/** A simple JSON path (".spec.tier", ".status.conditions[0].type"), as CRD printer columns use. */
export function simpleJsonPath(obj: unknown, path: string): unknown {
  const parts = path.replace(/^\{|\}$/g, '').match(/[^.[\]]+|\[\d+\]/g) ?? [];
  let cur: unknown = obj;
  for (const p of parts) {
    if (cur === undefined || cur === null) return undefined;
    if (p.startsWith('[')) cur = Array.isArray(cur) ? cur[Number(p.slice(1, -1))] : undefined;
    else cur = isPlainObject(cur) ? cur[p] : undefined;
  }
  return cur;
}

/** apiextensions' cellForJSONValue: typed cells, dates as the time since. */
function cell(type: string, value: unknown, now: Date): unknown {
  if (value === undefined || value === null) return null;
  switch (type) {
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value) ? value : null;
    case 'number':
      return typeof value === 'number' ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    case 'date': {
      const t = typeof value === 'string' ? Date.parse(value) : NaN;
      return Number.isNaN(t) ? null : humanDuration(now.getTime() - t);
    }
    default:
      return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
}

function printerOf(version: Record<string, unknown>): KindPrinter {
  const given = records(version.additionalPrinterColumns);
  const columns = given.length
    ? given
    : [
        {
          name: 'Age',
          type: 'date',
          jsonPath: '.metadata.creationTimestamp',
          description: 'CreationTimestamp',
        },
      ];
  const defs: TableColumn[] = [
    {
      name: 'Name',
      type: 'string',
      format: 'name',
      description: 'Name must be unique within a namespace.',
      priority: 0,
    },
    ...columns.map((c) => ({
      name: str(c.name),
      type: str(c.type) || 'string',
      format: str(c.format),
      description: str(c.description),
      priority: typeof c.priority === 'number' ? c.priority : 0,
    })),
  ];
  return {
    columns: defs,
    cells: (obj, now) => [
      obj.metadata.name ?? '',
      ...columns.map((c) => cell(str(c.type), simpleJsonPath(obj, str(c.jsonPath)), now)),
    ],
  };
}

// ---- the custom resources a CRD serves ---------------------------------------------------------------

const CR_VERBS: Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** The ResourceType of one served version of a CRD. */
export function customResourceType(
  crd: KubeObject,
  version: Record<string, unknown>,
  impl?: CustomResourceImplementation,
): ResourceType {
  const spec = record(crd.spec);
  const names = record(spec.names);
  const group = str(spec.group);
  const v = str(version.name);
  const crdName = crd.metadata.name ?? '';
  const namespaced = spec.scope === 'Namespaced';
  const status = isPlainObject(record(version.subresources).status);
  return {
    group,
    version: v,
    apiVersion: `${group}/${v}`,
    kind: str(names.kind),
    listKind: str(names.listKind) || `${str(names.kind)}List`,
    plural: str(names.plural),
    singular: str(names.singular) || str(names.kind).toLowerCase(),
    namespaced,
    shortNames: Array.isArray(names.shortNames) ? names.shortNames.map(String) : [],
    categories: Array.isArray(names.categories) ? names.categories.map(String) : [],
    verbs: CR_VERBS,
    subresources: status ? ['status'] : [],
    selectableFields: namespaced ? ['metadata.name', 'metadata.namespace'] : ['metadata.name'],
    fieldsOf: (obj) => ({
      'metadata.name': obj.metadata.name ?? '',
      ...(namespaced ? { 'metadata.namespace': obj.metadata.namespace ?? '' } : {}),
    }),
    applyDefaults() {},
    validate: (obj) => impl?.validate(obj) ?? [],
    ...(impl?.validateStatus ? { validateStatus: impl.validateStatus } : {}),
    ...(impl?.pruneUnknownFields ? { pruneUnknownFields: impl.pruneUnknownFields } : {}),
    prepareForCreate(obj, privileged) {
      // With the status subresource, a create's status is dropped (set later through /status).
      if (status && !privileged) delete obj.status;
    },
    printer: printerOf(version),
    customResource: { crd: crdName },
  };
}

/** The CRD's OpenAPI v3 schema of a version, when it has one (for /openapi/v3). */
export function customResourceSchema(crd: KubeObject, version: string): Record<string, unknown> | undefined {
  const v = records(record(crd.spec).versions).find((x) => x.name === version);
  const schema = record(record(v?.schema).openAPIV3Schema);
  return Object.keys(schema).length > 0 ? schema : undefined;
}

/**
 * What one server serves: the built-in kinds and the custom resources of its established CRDs.
 * Recomputed when the CRDs change (cached by their resourceVersions).
 */
export class ServedTypes {
  private cacheKey = '';
  private cached: readonly ResourceType[] = [];

  constructor(
    private readonly store: VersionedStore,
    private readonly builtins: readonly ResourceType[],
    private readonly implementations: CustomResourceImplementations,
  ) {}

  all(): readonly ResourceType[] {
    const crds = this.store.list(CRD_PLURAL);
    const key = crds.map((c) => `${c.metadata.name}@${c.metadata.resourceVersion}`).join(',');
    if (key !== this.cacheKey || this.cached.length === 0) {
      this.cacheKey = key;
      this.cached = [...this.builtins, ...crds.flatMap((crd) => this.typesOf(crd))];
    }
    return this.cached;
  }

  /** The CRD that serves `rt`, if `rt` is a custom resource. */
  crdOf(rt: ResourceType): KubeObject | undefined {
    return rt.customResource ? this.store.get(CRD_PLURAL, rt.customResource.crd) : undefined;
  }

  private typesOf(crd: KubeObject): ResourceType[] {
    if (validateCrd(crd).length > 0) return [];
    const builtin = this.builtins.some(
      (b) =>
        b.group === str(record(crd.spec).group) && b.plural === str(record(record(crd.spec).names).plural),
    );
    if (builtin) return [];
    return records(record(crd.spec).versions)
      .filter((v) => v.served === true)
      .map((v) =>
        customResourceType(crd, v, this.implementations.get(`${crd.metadata.name}/${str(v.name)}`)),
      );
  }
}

/** The plural of the custom resources a CRD object defines. */
export function crdPlural(crd: KubeObject): string {
  return str(record(record(crd.spec).names).plural);
}
