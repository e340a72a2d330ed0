/**
 * What Deployments and StatefulSets share: a label selector that must match the pod template's
 * labels, a pod template defaulted like a pod, `replicas` (default 1) behind the /scale
 * subresource, the wide printing columns (containers, images), and so all of their
 * ResourceType but the names, the defaulting of their own spec fields and the printer.
 */
import type { StatusCause } from '../errors';
import type { ResourceType } from '../resources';
import { formatLabelSelector } from '../table';
import { column, type KindPrinter } from '../table-columns';
import type { KubeObject } from '../types';
import { child, record, records, section, str } from './fields';
import { defaultPodSpec, validatePodSpec } from './pod-spec';

export function defaultWorkload(obj: KubeObject): Record<string, unknown> {
  const spec = section(obj, 'spec');
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  const template = child(spec, 'template');
  defaultPodSpec(child(template, 'spec'));
  return spec;
}

export function validateWorkload(obj: KubeObject): StatusCause[] {
  const spec = record(obj.spec);
  const causes: StatusCause[] = [];
  const replicas = spec.replicas;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.replicas',
      message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
    });
  }
  const selector = record(spec.selector);
  const matchLabels = record(selector.matchLabels);
  if (Object.keys(matchLabels).length === 0 && records(selector.matchExpressions).length === 0) {
    causes.push({ reason: 'FieldValueRequired', field: 'spec.selector', message: 'Required value' });
  } else {
    const labels = record(record(record(spec.template).metadata).labels);
    const mismatch = Object.entries(matchLabels).some(([k, v]) => labels[k] !== v);
    if (mismatch) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: 'spec.template.metadata.labels',
        message: `Invalid value: ${JSON.stringify(labels)}: \`selector\` does not match template \`labels\``,
      });
    }
  }
  causes.push(...validatePodSpec(record(spec.template).spec, 'spec.template.spec'));
  return causes;
}

export function workloadSelector(obj: KubeObject): string {
  const text = formatLabelSelector(record(obj.spec).selector);
  return text === '<none>' ? '' : text;
}

function templateContainers(obj: KubeObject): Record<string, unknown>[] {
  return records(record(record(record(obj.spec).template).spec).containers);
}

export const CONTAINERS_COLUMN = column('Containers', 'Names of each container in the template.', 1);
export const IMAGES_COLUMN = column('Images', 'Images referenced by each container in the template.', 1);

export function containerNames(obj: KubeObject): string {
  return templateContainers(obj)
    .map((c) => str(c.name))
    .join(',');
}

export function containerImages(obj: KubeObject): string {
  return templateContainers(obj)
    .map((c) => str(c.image))
    .join(',');
}

/** "ready/desired", as the READY column of both kinds. */
export function readyOfDesired(obj: KubeObject): string {
  return `${Number(record(obj.status).readyReplicas ?? 0)}/${Number(record(obj.spec).replicas ?? 0)}`;
}

/** What one workload kind has of its own. */
export interface WorkloadKind {
  readonly kind: 'Deployment' | 'StatefulSet';
  readonly plural: string;
  readonly shortName: string;
  /** Defaults the kind's own spec fields, after the shared ones (defaultWorkload). */
  defaultSpec(spec: Record<string, unknown>): void;
  readonly printer: KindPrinter;
}

/** An apps/v1 workload kind, with /status and /scale. */
export function workloadResource(w: WorkloadKind): ResourceType {
  return {
    group: 'apps',
    version: 'v1',
    apiVersion: 'apps/v1',
    kind: w.kind,
    listKind: `${w.kind}List`,
    plural: w.plural,
    singular: w.kind.toLowerCase(),
    namespaced: true,
    shortNames: [w.shortName],
    categories: ['all'],
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    subresources: ['status', 'scale'],
    selectableFields: ['metadata.name', 'metadata.namespace'],
    fieldsOf: (obj) => ({
      'metadata.name': obj.metadata.name ?? '',
      'metadata.namespace': obj.metadata.namespace ?? '',
    }),
    applyDefaults(obj) {
      w.defaultSpec(defaultWorkload(obj));
    },
    validate: validateWorkload,
    prepareForCreate(obj) {
      obj.status = {};
    },
    printer: w.printer,
    scaleSelector: workloadSelector,
  };
}
