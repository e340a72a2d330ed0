/**
 * Validation of raw Kubernetes objects, as the API server (with kubectl's strict field
 * validation) would accept or reject them. Pure: takes decoded JSON, returns every problem.
 *
 * Used by the scenario loader (compiler/scenario) before projecting objects into the model.
 * The agent does not need it: objects from the API server are already valid.
 */
import { FieldErrors, type FieldError } from './fields';
import { validateObjectMeta } from './meta';
import { validateNamespaceBody } from './namespace';
import { validateNetworkPolicySpec } from './networkpolicy';
import { validatePodSpec, validatePodStatus } from './pod';

export type { FieldError, FieldPath } from './fields';
export { formatPath } from './fields';
export * from './ip';
export { dns1123Label, dns1123Subdomain, qualifiedName, labelValue, ianaServiceName } from './names';

export type SupportedKind = 'Namespace' | 'Pod' | 'NetworkPolicy';

/** The apiVersion each supported kind must carry. */
export const KIND_API_VERSIONS: Readonly<Record<SupportedKind, string>> = {
  Namespace: 'v1',
  Pod: 'v1',
  NetworkPolicy: 'networking.k8s.io/v1',
};

export interface ValidatedObject {
  /** Undefined when apiVersion/kind is missing or not one of the supported kinds. */
  readonly kind?: SupportedKind;
  readonly name?: string;
  /** For namespaced kinds; defaults to "default". */
  readonly namespace?: string;
  readonly errors: readonly FieldError[];
}

const TOP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];

export function validateObject(raw: unknown): ValidatedObject {
  const errs = new FieldErrors();
  const obj = errs.object(raw, []);
  if (!obj) {
    if (raw === undefined || raw === null) errs.add([], 'empty object');
    return { errors: errs.errors };
  }
  const apiVersion = errs.string(obj.apiVersion, ['apiVersion']);
  const kindText = errs.string(obj.kind, ['kind']);
  if (obj.apiVersion === undefined || obj.apiVersion === null) errs.add(['apiVersion'], 'required value');
  if (obj.kind === undefined || obj.kind === null) errs.add(['kind'], 'required value');
  if (kindText === undefined || apiVersion === undefined) return { errors: errs.errors };
  if (!(kindText in KIND_API_VERSIONS)) {
    errs.add(
      ['kind'],
      `unsupported kind ${JSON.stringify(kindText)}: a scenario holds v1 Namespace, v1 Pod and networking.k8s.io/v1 NetworkPolicy objects`,
    );
    return { errors: errs.errors };
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
      return { kind, name, errors: errs.errors };
    }
    case 'Pod': {
      const m = validateObjectMeta(obj.metadata, ['metadata'], errs, {
        namespaced: true,
        nameRule: 'dns1123-subdomain',
      });
      validatePodSpec(obj.spec, ['spec'], errs);
      validatePodStatus(obj.status, ['status'], errs);
      return { kind, name: m.name, namespace: m.namespace, errors: errs.errors };
    }
    case 'NetworkPolicy': {
      const m = validateObjectMeta(obj.metadata, ['metadata'], errs, {
        namespaced: true,
        nameRule: 'dns1123-subdomain',
      });
      validateNetworkPolicySpec(obj.spec, ['spec'], errs);
      errs.object(obj.status, ['status']);
      return { kind, name: m.name, namespace: m.namespace, errors: errs.errors };
    }
  }
}
