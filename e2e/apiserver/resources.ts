/**
 * The built-in kinds this server serves (the core three here, the others in kinds/), described as plain data plus the per-kind "strategy" of the real
 * apiserver's registry: defaulting, what a create/update may set (status only through /status), and
 * the fields a field selector can use. Everything kind-specific outside table printing and patch
 * metadata lives here.
 */
import type { StatusCause } from './errors';
import { customResourceDefinitions } from './kinds/custom-resource-definitions';
import { deployments } from './kinds/deployment';
import { nodes } from './kinds/node';
import { defaultPodSpec, validatePodSpec } from './kinds/pod-spec';
import { statefulSets } from './kinds/statefulset';
import { labelKeyProblem, labelValueProblem } from './selectors';
import type { KindPrinter } from './table-columns';
import { isPlainObject, type KubeObject } from './types';

export type Verb = 'create' | 'delete' | 'deletecollection' | 'get' | 'list' | 'patch' | 'update' | 'watch';

export interface ResourceType {
  group: string;
  version: string;
  apiVersion: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: Verb[];
  /**
   * Subresources served: "status" and "scale" (GET/PUT/PATCH), "exec" (a WebSocket upgrade),
   * "binding" (POST).
   */
  subresources: Subresource[];
  /** Field selector fields this kind supports (upstream's GetAttrs/field label conversion). */
  selectableFields: readonly string[];
  fieldsOf(obj: KubeObject): Record<string, string>;
  /** API defaulting, applied on every write like upstream's decode-time defaulting. Mutates. */
  applyDefaults(obj: KubeObject): void;
  /** Kind-specific validation beyond metadata; returns every problem found. */
  validate(obj: KubeObject): StatusCause[];
  /** Server-set state of a new object (status reset etc.); `privileged` writes keep the given status. */
  prepareForCreate(obj: KubeObject, privileged: boolean): void;
  /** Validation of a /status write, when the kind checks its status. */
  validateStatus?(obj: KubeObject): StatusCause[];
  /**
   * Fields the kind's schema does not know, removed from `obj` (a structural schema's pruning);
   * returns their paths ("spec.foo") so that fieldValidation=Strict can refuse them instead.
   */
  pruneUnknownFields?(obj: KubeObject): string[];
  /**
   * Server-side printing (`kubectl get` columns), for kinds that bring their own: kinds/ and
   * custom resources (table.ts prints the first three by name).
   */
  printer?: KindPrinter;
  /** For kinds with a /scale subresource: the label selector of their pods, as text. */
  scaleSelector?(obj: KubeObject): string;
  /** Custom resources: served from a CustomResourceDefinition (no strategic merge patch). */
  customResource?: { readonly crd: string };
}

export type Subresource = 'status' | 'scale' | 'exec' | 'binding';

/** The verbs discovery lists for a subresource. */
export function subresourceVerbs(sub: Subresource): Verb[] {
  if (sub === 'exec') return ['create', 'get'];
  if (sub === 'binding') return ['create'];
  return ['get', 'patch', 'update'];
}

const ALL_VERBS: Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function str(value: unknown): string {
  return value === undefined || value === null ? '' : String(value);
}

function section(obj: KubeObject, key: 'spec' | 'status'): Record<string, unknown> {
  const value = obj[key];
  if (isPlainObject(value)) return value;
  const fresh: Record<string, unknown> = {};
  obj[key] = fresh;
  return fresh;
}

function listOf(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isPlainObject) : [];
}

export const namespaces: ResourceType = {
  group: '',
  version: 'v1',
  apiVersion: 'v1',
  kind: 'Namespace',
  listKind: 'NamespaceList',
  plural: 'namespaces',
  singular: 'namespace',
  namespaced: false,
  shortNames: ['ns'],
  categories: [],
  verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  subresources: ['status'],
  selectableFields: ['metadata.name', 'status.phase'],
  fieldsOf: (obj) => ({
    'metadata.name': str(obj.metadata.name),
    'status.phase': str((obj.status as { phase?: string } | undefined)?.phase),
  }),
  applyDefaults(obj) {
    // Since 1.21 the apiserver sets this immutable label so namespaces can be selected by name.
    const name = obj.metadata.name;
    if (name) obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': name };
  },
  validate: () => [],
  prepareForCreate(obj, privileged) {
    const spec = section(obj, 'spec');
    if (!Array.isArray(spec.finalizers)) spec.finalizers = ['kubernetes'];
    if (!privileged || !isPlainObject(obj.status)) obj.status = {};
    const status = section(obj, 'status');
    if (!status.phase) status.phase = 'Active';
  },
};

export const pods: ResourceType = {
  group: '',
  version: 'v1',
  apiVersion: 'v1',
  kind: 'Pod',
  listKind: 'PodList',
  plural: 'pods',
  singular: 'pod',
  namespaced: true,
  shortNames: ['po'],
  categories: ['all'],
  verbs: ALL_VERBS,
  subresources: ['status', 'exec', 'binding'],
  selectableFields: [
    'metadata.name',
    'metadata.namespace',
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'spec.hostNetwork',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  fieldsOf(obj) {
    const spec = (obj.spec ?? {}) as Record<string, unknown>;
    const status = (obj.status ?? {}) as Record<string, unknown>;
    return {
      'metadata.name': str(obj.metadata.name),
      'metadata.namespace': str(obj.metadata.namespace),
      'spec.nodeName': str(spec.nodeName),
      'spec.restartPolicy': str(spec.restartPolicy),
      'spec.schedulerName': str(spec.schedulerName),
      'spec.serviceAccountName': str(spec.serviceAccountName),
      'spec.hostNetwork': spec.hostNetwork === true ? 'true' : 'false',
      'status.phase': str(status.phase),
      'status.podIP': str(status.podIP),
      'status.nominatedNodeName': str(status.nominatedNodeName),
    };
  },
  applyDefaults(obj) {
    defaultPodSpec(section(obj, 'spec'));
  },
  validate: (obj) => validatePodSpec(obj.spec, 'spec'),
  prepareForCreate(obj, privileged) {
    // Upstream drops any status sent with a create; controllers set it later through /status.
    if (!privileged || !isPlainObject(obj.status)) obj.status = {};
    const status = section(obj, 'status');
    if (!status.phase) status.phase = 'Pending';
  },
};

export const networkPolicies: ResourceType = {
  group: 'networking.k8s.io',
  version: 'v1',
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  listKind: 'NetworkPolicyList',
  plural: 'networkpolicies',
  singular: 'networkpolicy',
  namespaced: true,
  shortNames: ['netpol'],
  categories: [],
  verbs: ALL_VERBS,
  subresources: [],
  selectableFields: ['metadata.name', 'metadata.namespace'],
  fieldsOf: (obj) => ({
    'metadata.name': str(obj.metadata.name),
    'metadata.namespace': str(obj.metadata.namespace),
  }),
  applyDefaults(obj) {
    // networking/v1 SetDefaults_NetworkPolicy: ports default to TCP; policyTypes default to Ingress,
    // plus Egress when egress rules are present.
    const spec = section(obj, 'spec');
    if (!isPlainObject(spec.podSelector)) spec.podSelector = {};
    for (const direction of ['ingress', 'egress']) {
      for (const rule of listOf(spec[direction])) {
        for (const port of listOf(rule.ports)) port.protocol ??= 'TCP';
      }
    }
    if (!Array.isArray(spec.policyTypes) || spec.policyTypes.length === 0) {
      const egress = spec.egress;
      spec.policyTypes = Array.isArray(egress) && egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
    }
  },
  validate(obj) {
    const types = (obj.spec as Record<string, unknown>).policyTypes as unknown[];
    return types
      .map((t, i) => ({ t, i }))
      .filter(({ t }) => t !== 'Ingress' && t !== 'Egress')
      .map(({ t, i }) => ({
        reason: 'FieldValueNotSupported',
        field: `spec.policyTypes[${i}]`,
        message: `Unsupported value: "${String(t)}": supported values: "Ingress", "Egress"`,
      }));
  },
  prepareForCreate() {},
};

/** The built-in kinds; a server also serves the custom resources of its CRDs (kinds/custom-resources.ts). */
export const RESOURCE_TYPES: readonly ResourceType[] = [
  namespaces,
  pods,
  networkPolicies,
  nodes,
  deployments,
  statefulSets,
  customResourceDefinitions,
];

export function resourceByPath(
  group: string,
  version: string,
  plural: string,
  types: readonly ResourceType[] = RESOURCE_TYPES,
): ResourceType | undefined {
  return types.find((rt) => rt.group === group && rt.version === version && rt.plural === plural);
}

export function resourceByKind(
  apiVersion: string | undefined,
  kind: string | undefined,
  types: readonly ResourceType[] = RESOURCE_TYPES,
): ResourceType | undefined {
  return types.find((rt) => rt.apiVersion === apiVersion && rt.kind === kind);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Metadata validation common to all kinds (name format, labels), then the kind's own. */
export function validateObject(rt: ResourceType, obj: KubeObject, checkSpec: boolean): StatusCause[] {
  const causes: StatusCause[] = [];
  const name = obj.metadata.name ?? '';
  const nameOk =
    rt === namespaces
      ? DNS_LABEL.test(name) && name.length <= 63
      : DNS_SUBDOMAIN.test(name) && name.length <= 253;
  if (!name) {
    causes.push({
      reason: 'FieldValueRequired',
      field: 'metadata.name',
      message: 'Required value: name or generateName is required',
    });
  } else if (!nameOk) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'metadata.name',
      message: `Invalid value: "${name}": a lowercase RFC 1123 ${rt === namespaces ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    });
  }
  for (const [key, value] of Object.entries(obj.metadata.labels ?? {})) {
    const problem =
      labelKeyProblem(key) ?? (typeof value === 'string' ? labelValueProblem(value) : 'must be a string');
    if (problem)
      causes.push({
        reason: 'FieldValueInvalid',
        field: 'metadata.labels',
        message: `Invalid value: "${key}": ${problem}`,
      });
  }
  if (checkSpec) causes.push(...rt.validate(obj));
  return causes;
}
