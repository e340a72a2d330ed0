/**
 * policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy, served once its CustomResourceDefinition
 * exists (a cluster without the CRD is normal: the agent must cope, and the tests show it).
 *
 * CLUSTER_NETWORK_POLICY_CRD is the CRD as the experimental channel (network-policy-api v0.2.0)
 * defines it for serving: names, cluster scope, the status subresource, the Tier/Priority/Age
 * printer columns. Its schema here is loose: the validation is compiler/validate's
 * ClusterNetworkPolicy validator (the CRD's schema and every CEL rule), registered for the
 * CRD's name, so the upstream CRD YAML applied with kubectl gets the same validation.
 *
 * Unknown fields are pruned, as a structural schema prunes them, and with fieldValidation=Strict
 * (kubectl's default) refused with the API server's "strict decoding error".
 */
import {
  CLUSTER_POLICY_API_VERSION,
  FieldErrors,
  formatPath,
  validateClusterNetworkPolicySpec,
  validateClusterNetworkPolicyStatus,
  type FieldError,
  type FieldPath,
} from '../../../compiler/validate';
import type { StatusCause } from '../errors';
import { isPlainObject, type KubeObject } from '../types';
import type { CustomResourceImplementation } from './custom-resource-definitions';

export const CLUSTER_NETWORK_POLICY_CRD_NAME = 'clusternetworkpolicies.policy.networking.k8s.io';
export const CLUSTER_NETWORK_POLICY_VERSION = CLUSTER_POLICY_API_VERSION.split('/')[1];
const VERSION = CLUSTER_NETWORK_POLICY_VERSION;

const preserve = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

export const CLUSTER_NETWORK_POLICY_CRD: KubeObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: {
    name: CLUSTER_NETWORK_POLICY_CRD_NAME,
    annotations: {
      'policy.networking.k8s.io/bundle-version': 'v0.2.0',
      'policy.networking.k8s.io/channel': 'experimental',
    },
  },
  spec: {
    group: 'policy.networking.k8s.io',
    names: {
      kind: 'ClusterNetworkPolicy',
      listKind: 'ClusterNetworkPolicyList',
      plural: 'clusternetworkpolicies',
      singular: 'clusternetworkpolicy',
      shortNames: ['cnp'],
    },
    scope: 'Cluster',
    versions: [
      {
        name: VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { jsonPath: '.spec.tier', name: 'Tier', type: 'string' },
          { jsonPath: '.spec.priority', name: 'Priority', type: 'string' },
          { jsonPath: '.metadata.creationTimestamp', name: 'Age', type: 'date' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            required: ['metadata', 'spec'],
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec: preserve,
              status: preserve,
            },
          },
        },
      },
    ],
  },
};

const TOP_LEVEL = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];

function check(obj: KubeObject): { errors: FieldError[] } {
  const errs = new FieldErrors();
  for (const k of Object.keys(obj)) if (!TOP_LEVEL.includes(k)) errs.add([k], 'unknown field');
  validateClusterNetworkPolicySpec(obj.spec, ['spec'], { errs, warns: new FieldErrors() });
  return { errors: errs.errors };
}

const isUnknown = (e: FieldError) => e.message.startsWith('unknown field');

function removeAt(obj: unknown, path: FieldPath): void {
  let cur: unknown = obj;
  for (const seg of path.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  if (isPlainObject(cur)) delete cur[path[path.length - 1] as string];
}

function cause(e: FieldError): StatusCause {
  const field = formatPath(e.path);
  if (e.message === 'required value')
    return { reason: 'FieldValueRequired', field, message: 'Required value' };
  if (e.message.startsWith('unsupported value '))
    return { reason: 'FieldValueNotSupported', field, message: `Unsupported value: ${e.message.slice(18)}` };
  if (e.message.startsWith('duplicate value '))
    return { reason: 'FieldValueDuplicate', field, message: `Duplicate value: ${e.message.slice(16)}` };
  if (e.message.startsWith('must be a') && e.message.includes(', not '))
    return { reason: 'FieldValueTypeInvalid', field, message: `Invalid value: ${e.message}` };
  return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${e.message}` };
}

export const CLUSTER_NETWORK_POLICY_IMPLEMENTATION: CustomResourceImplementation = {
  pruneUnknownFields(obj) {
    const unknown = check(obj).errors.filter(isUnknown);
    // Deepest first, so that removing a field never shifts the path of another.
    for (const e of [...unknown].sort((a, b) => b.path.length - a.path.length)) removeAt(obj, e.path);
    return unknown.map((e) => formatPath(e.path));
  },
  validate: (obj) =>
    check(obj)
      .errors.filter((e) => !isUnknown(e))
      .map(cause),
  validateStatus(obj) {
    const errs = new FieldErrors();
    validateClusterNetworkPolicyStatus(obj.status, ['status'], errs);
    return errs.errors.map(cause);
  },
};
