/**
 * apps/v1 StatefulSet, with /status and /scale. The sandbox's controller (e2e/sandbox) names
 * its pods NAME-0, NAME-1, ...; this file is only the API side: defaulting, validation,
 * printing (upstream's printStatefulSet).
 */
import type { ResourceType } from '../resources';
import { AGE, age, column, NAME, type KindPrinter } from '../table-columns';
import { child } from './fields';
import {
  CONTAINERS_COLUMN,
  containerImages,
  containerNames,
  defaultWorkload,
  IMAGES_COLUMN,
  readyOfDesired,
  validateWorkload,
  workloadSelector,
} from './workload';

export const statefulSetPrinter: KindPrinter = {
  columns: [
    NAME,
    column('Ready', 'Number of the pod with ready state'),
    AGE,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
  ],
  cells: (obj, now) => [
    obj.metadata.name ?? '',
    readyOfDesired(obj),
    age(obj, now),
    containerNames(obj),
    containerImages(obj),
  ],
};

export const statefulSets: ResourceType = {
  group: 'apps',
  version: 'v1',
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  listKind: 'StatefulSetList',
  plural: 'statefulsets',
  singular: 'statefulset',
  namespaced: true,
  shortNames: ['sts'],
  categories: ['all'],
  verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  subresources: ['status', 'scale'],
  selectableFields: ['metadata.name', 'metadata.namespace'],
  fieldsOf: (obj) => ({
    'metadata.name': obj.metadata.name ?? '',
    'metadata.namespace': obj.metadata.namespace ?? '',
  }),
  applyDefaults(obj) {
    const spec = defaultWorkload(obj);
    spec.podManagementPolicy ??= 'OrderedReady';
    const strategy = child(spec, 'updateStrategy');
    strategy.type ??= 'RollingUpdate';
  },
  validate: validateWorkload,
  prepareForCreate(obj) {
    obj.status = {};
  },
  printer: statefulSetPrinter,
  scaleSelector: workloadSelector,
};
