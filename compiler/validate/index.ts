/**
 * Validation of raw Kubernetes objects, as the API server (with kubectl's strict field
 * validation) would accept or reject them. Pure: takes decoded JSON, returns every problem.
 *
 * Used by the scenario loader (compiler/scenario) before projecting objects into the model, and
 * by the test API server for ClusterNetworkPolicy (the CRD's validation, e2e/apiserver/kinds).
 * The agent does not need it: objects from the API server are already valid.
 */
import { CLUSTER_POLICY_API_VERSION, validateClusterNetworkPolicySpec } from './clusternetworkpolicy';
import { FieldErrors, type FieldError } from './fields';
import { validateObjectMeta } from './meta';
import { validateNamespaceBody } from './namespace';
import { validateNetworkPolicySpec } from './networkpolicy';
import { validateNodeSpec, validateNodeStatus } from './node';
import { validatePodSpec, validatePodStatus } from './pod';

export type { FieldError, FieldPath } from './fields';
export { FieldErrors, formatPath } from './fields';
export {
  CEL_MESSAGES,
  CLUSTER_POLICY_API_VERSION,
  DOMAIN_NAME_PATTERN,
  isCIDR,
  validateClusterNetworkPolicySpec,
  validateClusterNetworkPolicyStatus,
} from './clusternetworkpolicy';
export { NODE_ADDRESS_TYPES, NODE_IP_ADDRESS_TYPES } from './node';
export * from './ip';
export { dns1123Label, dns1123Subdomain, qualifiedName, labelValue, ianaServiceName } from './names';

export type SupportedKind = 'Namespace' | 'Pod' | 'NetworkPolicy' | 'ClusterNetworkPolicy' | 'Node';

/** The apiVersion each supported kind must carry. */
export const KIND_API_VERSIONS: Readonly<Record<SupportedKind, string>> = {
  Namespace: 'v1',
  Pod: 'v1',
  NetworkPolicy: 'networking.k8s.io/v1',
  ClusterNetworkPolicy: CLUSTER_POLICY_API_VERSION,
  Node: 'v1',
};

/** The kinds a scenario holds, in words (for error messages and help texts). */
export const SCENARIO_KINDS_TEXT =
  'v1 Namespace, Pod and Node, networking.k8s.io/v1 NetworkPolicy and policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy objects';

export interface ValidatedObject {
  /** Undefined when apiVersion/kind is missing or not one of the supported kinds. */
  readonly kind?: SupportedKind;
  readonly name?: string;
  /** For namespaced kinds; defaults to "default". */
  readonly namespace?: string;
  readonly errors: readonly FieldError[];
  /** What the API server accepts but Palisade reads in a way worth saying (see clusternetworkpolicy.ts). */
  readonly warnings: readonly FieldError[];
}

const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];

export function validateObject(raw: unknown): ValidatedObject {
  const errs = new FieldErrors();
  const warns = new FieldErrors();
  const warnings = warns.errors;
  const obj = errs.object(raw, []);
  if (!obj) {
    if (raw === undefined || raw === null) errs.add([], 'empty object');
    return { errors: errs.errors, warnings };
  }
  const apiVersion = errs.string(obj.apiVersion, ['apiVersion']);
  const kindText = errs.string(obj.kind, ['kind']);
  if (obj.apiVersion === undefined || obj.apiVersion === null) errs.add(['apiVersion'], 'required value');
  if (obj.kind === undefined || obj.kind === null) errs.add(['kind'], 'required value');
  if (kindText === undefined || apiVersion === undefined) return { errors: errs.errors, warnings };
  if (!(kindText in KIND_API_VERSIONS)) {
    errs.add(
      ['kind'],
      `unsupported kind ${JSON.stringify(kindText)}: a scenario holds ${SCENARIO_KINDS_TEXT}`,
    );
    return { errors: errs.errors, warnings };
  }
  const kind = kindText as SupportedKind;
  const want = KIND_API_VERSIONS[kind];
  if (apiVersion !== want) {
    errs.add(['apiVersion'], `${JSON.stringify(apiVersion)} does not serve ${kind}: use apiVersion: ${want}`);
  }
  errs.object(obj, [], TOP_FIELDS);
  switch (kind) {
    case 'Namespace': {
      const { name } = validateObjectMeta(obj.metadata, ['metadata'], errs, {
        namespaced: false,
        nameRule: 'dns1123-label',
      });
      validateNamespaceBody(obj, [], errs);
      return { kind, name, errors: errs.errors, warnings };
    }
    case 'Pod': {
      const m = validateObjectMeta(obj.metadata, ['metadata'], errs, {
        namespaced: true,
        nameRule: 'dns1123-subdomain',
      });
      validatePodSpec(obj.spec, ['spec'], errs);
      validatePodStatus(obj.status, ['status'], errs);
      return { kind, name: m.name, namespace: m.namespace, errors: errs.errors, warnings };
    }
    case 'NetworkPolicy': {
      const m = validateObjectMeta(obj.metadata, ['metadata'], errs, {
        namespaced: true,
        nameRule: 'dns1123-subdomain',
      });
      validateNetworkPolicySpec(obj.spec, ['spec'], errs);
      errs.object(obj.status, ['status']);
      return { kind, name: m.name, namespace: m.namespace, errors: errs.errors, warnings };
    }
    case 'ClusterNetworkPolicy': {
      // Cluster-scoped: a metadata.namespace is ignored, as the API server clears it.
      const { name } = validateObjectMeta(obj.metadata, ['metadata'], errs, {
        namespaced: false,
        nameRule: 'dns1123-subdomain',
      });
      validateClusterNetworkPolicySpec(obj.spec, ['spec'], { errs, warns });
      // status: the status subresource makes the API server drop it on create.
      return { kind, name, errors: errs.errors, warnings };
    }
    case 'Node': {
      const { name } = validateObjectMeta(obj.metadata, ['metadata'], errs, {
        namespaced: false,
        nameRule: 'dns1123-subdomain',
      });
      validateNodeSpec(obj.spec, ['spec'], errs);
      validateNodeStatus(obj.status, ['status'], errs);
      return { kind, name, errors: errs.errors, warnings };
    }
  }
}
