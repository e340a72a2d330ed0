/**
 * Defaulting and validation of a PodSpec, shared by Pods and by the pod templates of
 * Deployments and StatefulSets (upstream defaults templates exactly as pods).
 */
import type { StatusCause } from '../errors';
import { isPlainObject } from '../types';
import { records } from './fields';

export function defaultPodSpec(spec: Record<string, unknown>): void {
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.terminationGracePeriodSeconds ??= 30;
  for (const list of ['initContainers', 'containers']) {
    for (const container of records(spec[list])) {
      for (const port of records(container.ports)) port.protocol ??= 'TCP';
    }
  }
}

/** Every problem with the containers of a pod spec found at `path` ("spec", "spec.template.spec"). */
export function validatePodSpec(spec: unknown, path: string): StatusCause[] {
  const containers = isPlainObject(spec) ? spec.containers : undefined;
  if (!Array.isArray(containers) || containers.length === 0) {
    return [{ reason: 'FieldValueRequired', field: `${path}.containers`, message: 'Required value' }];
  }
  const causes: StatusCause[] = [];
  containers.forEach((c, i) => {
    for (const field of ['name', 'image']) {
      if (!isPlainObject(c) || !c[field]) {
        causes.push({
          reason: 'FieldValueRequired',
          field: `${path}.containers[${i}].${field}`,
          message: 'Required value',
        });
      }
    }
  });
  return causes;
}
