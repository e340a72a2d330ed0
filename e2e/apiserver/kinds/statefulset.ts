/**
 * apps/v1 StatefulSet, with /status and /scale. The sandbox's controller (e2e/sandbox) names
 * its pods NAME-0, NAME-1, ...; this file is only the API side: defaulting, validation,
 * printing (upstream's printStatefulSet).
 */
import { AGE, age, column, NAME, type KindPrinter } from '../table-columns';
import { child } from './fields';
import {
  CONTAINERS_COLUMN,
  containerImages,
  containerNames,
  IMAGES_COLUMN,
  readyOfDesired,
  workloadResource,
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

export const statefulSets = workloadResource({
  kind: 'StatefulSet',
  plural: 'statefulsets',
  shortName: 'sts',
  defaultSpec(spec) {
    spec.podManagementPolicy ??= 'OrderedReady';
    const strategy = child(spec, 'updateStrategy');
    strategy.type ??= 'RollingUpdate';
  },
  printer: statefulSetPrinter,
});
