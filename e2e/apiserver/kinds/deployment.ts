/**
 * apps/v1 Deployment, with /status and /scale. The sandbox's controller (e2e/sandbox) creates,
 * scales and deletes its pods from the template; this file is only the API side: defaulting,
 * validation, printing (upstream's printDeployment).
 */
import { AGE, age, column, NAME, type KindPrinter } from '../table-columns';
import { child, record } from './fields';
import {
  CONTAINERS_COLUMN,
  containerImages,
  containerNames,
  IMAGES_COLUMN,
  readyOfDesired,
  workloadResource,
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

export const deployments = workloadResource({
  kind: 'Deployment',
  plural: 'deployments',
  shortName: 'deploy',
  defaultSpec(spec) {
    spec.progressDeadlineSeconds ??= 600;
    const strategy = child(spec, 'strategy');
    strategy.type ??= 'RollingUpdate';
    if (strategy.type === 'RollingUpdate') {
      const rolling = child(strategy, 'rollingUpdate');
      rolling.maxUnavailable ??= '25%';
      rolling.maxSurge ??= '25%';
    }
  },
  printer: deploymentPrinter,
});
