/**
 * apps/v1 Deployment, with /status and /scale. The sandbox's controller (e2e/sandbox) creates,
 * scales and deletes its pods from the template; this file is only the API side: defaulting,
 * validation, printing (upstream's printDeployment).
 */
import type { ResourceType } from '../resources';
import { AGE, age, column, NAME, type KindPrinter } from '../table-columns';
import { child, record } from './fields';
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

export const deploymentPrinter: KindPrinter = {
  columns: [
    NAME,
    column('Ready', 'Number of the pod with ready state'),
    column(
      'Up-to-date',
      'Total number of non-terminated pods targeted by this deployment that have the desired template spec.',
      0,
      'integer',
    ),
    column(
      'Available',
      'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.',
      0,
      'integer',
    ),
    AGE,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column(
      'Selector',
      'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.',
      1,
    ),
  ],
  cells: (obj, now) => {
    const status = record(obj.status);
    return [
      obj.metadata.name ?? '',
      readyOfDesired(obj),
      Number(status.updatedReplicas ?? 0),
      Number(status.availableReplicas ?? 0),
      age(obj, now),
      containerNames(obj),
      containerImages(obj),
      workloadSelector(obj) || '<none>',
    ];
  },
};

export const deployments: ResourceType = {
  group: 'apps',
  version: 'v1',
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  listKind: 'DeploymentList',
  plural: 'deployments',
  singular: 'deployment',
  namespaced: true,
  shortNames: ['deploy'],
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
    spec.progressDeadlineSeconds ??= 600;
    const strategy = child(spec, 'strategy');
    strategy.type ??= 'RollingUpdate';
    if (strategy.type === 'RollingUpdate') {
      const rolling = child(strategy, 'rollingUpdate');
      rolling.maxUnavailable ??= '25%';
      rolling.maxSurge ??= '25%';
    }
  },
  validate: validateWorkload,
  prepareForCreate(obj) {
    obj.status = {};
  },
  printer: deploymentPrinter,
  scaleSelector: workloadSelector,
};
